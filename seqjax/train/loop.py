"""The training loop every seqjax experiment uses.

``fit`` runs a jitted ``train_step`` over an iterator of batches, and:

- resumes from ``workdir/checkpoints`` when a checkpoint exists (state, data position);
- prints a progress line every ``log_every`` steps (step, epoch, loss, derived metrics such as
  perplexity, tokens/s, ETA) and writes the same metrics to JSONL and TensorBoard;
- evaluates every ``eval_every`` steps, keeps the best checkpoint by the evaluation
  ``best_metric`` (``loss``, lower is better, unless set: e.g. ``accuracy`` with
  ``best_mode="max"``),
  decays the learning rate on a plateau, and stops early after ``patience`` evaluations
  without improvement;
- checkpoints every ``checkpoint_every`` steps, at the end, and when interrupted (SIGINT or
  SIGTERM: the current step finishes, is saved, then ``Interrupted`` is raised) or preempted
  (orbax's ``reached_preemption``: the same, once every process has seen the notice).
  Saves are asynchronous: orbax writes while the next steps train, and a checkpoint is sealed
  once written (by a thread in a one-process run, so another process can read it while the
  run goes on; before the next save, a restore, and at the end in a multi-process one);
- stops with ``FloatingPointError`` naming the step when the loss or the gradient norm is not
  finite, or when a parameter or optimizer state about to be saved is not, leaving the last
  good checkpoint in place: no checkpoint holds a non-finite value;
- resumes from the newest checkpoint whose checksums verify (``seqjax.train.checkpoint``) and
  drops the ``metrics.jsonl`` records of steps after it, so each step is recorded once.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from typing import Any, Callable, Iterator, Optional, Protocol

import jax
import jax.numpy as jnp

from seqjax.train import optim
from seqjax.train.checkpoint import Checkpointer
from seqjax.train.state import TrainState
from seqjax.train.writer import MetricWriter


class Batches(Protocol):
  """A checkpointable, endless iterator of batches (e.g. ``seqjax.data.lm.LMStream``)."""

  def __iter__(self) -> Iterator[dict]: ...

  def get_state(self) -> dict: ...

  def set_state(self, state: dict) -> None: ...


@dataclasses.dataclass
class LoopOptions:
  num_steps: int
  steps_per_epoch: int
  log_every: int = 100
  eval_every: int = 0  # 0: once per epoch
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  patience: int = 0  # evaluations without improvement before stopping; 0: never stop early
  plateau_factor: float = 0.0  # > 0: multiply the learning rate by it when validation stalls
  plateau_patience: int = 1
  tokens_per_step: int = 0  # for tokens/s; 0 hides it
  tensorboard: bool = True
  best_metric: str = "loss"  # the evaluation metric that picks the best checkpoint
  best_mode: str = "min"  # "min" or "max"

  def __post_init__(self):
    if self.best_mode not in ("min", "max"):
      raise ValueError(f"LoopOptions.best_mode must be 'min' or 'max'; got {self.best_mode!r}")


def print_flush(message: str) -> None:
  """Progress goes to stdout at once, also when it is a file (``nohup ... > log``)."""
  print(message, flush=True)


def _is_finite(x: float) -> bool:
  return math.isfinite(x)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
  return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _number(v: float) -> str:
  """``1.234`` (4 significant digits), but a whole number as an integer with thousands
  separators (``73,760``, not ``7.376e+04``).

  >>> _number(73760.0), _number(0.0001234), _number(3), _number(12.5)
  ('73,760', '0.0001234', '3', '12.5')
  """
  if isinstance(v, bool):
    return str(v)
  if math.isfinite(v) and float(v).is_integer() and abs(v) >= 1:
    return f"{int(v):,}"
  return f"{v:.4g}"


def _format(metrics: dict[str, Any]) -> str:
  """Scalars as ``name 1.234`` (whole numbers as integers); anything else (a confusion matrix)
  as ``name=value``."""
  return " ".join(f"{k} {_number(v)}" if isinstance(v, (int, float)) else f"{k}={v}"
                  for k, v in metrics.items())


class Interrupted(KeyboardInterrupt):
  """Training stopped by SIGINT or SIGTERM after saving the step it had finished.

  ``signum`` is the signal; ``step`` the step saved; ``exit_code`` 128 + the signal (130 for
  SIGINT, 143 for SIGTERM), what a shell reports for a process the signal ended."""

  def __init__(self, signum: int, step: Optional[int], message: str):
    super().__init__(message)
    self.signum, self.step, self.message = signum, step, message

  @property
  def exit_code(self) -> int:
    return 128 + self.signum

  def __str__(self) -> str:
    return self.message


def signal_name(signum: int) -> str:
  try:
    return signal.Signals(signum).name
  except ValueError:
    return f"signal {signum}"


class _StopFlag:
  """Turns SIGINT/SIGTERM into a request the loop honours between steps."""

  def __init__(self):
    self.requested = False
    self.signum = 0
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.requested:  # a second signal: give up at once
      raise Interrupted(signum, None, f"{signal_name(signum)} received twice: stopped without "
                        "saving the step in progress")
    self.requested, self.signum = True, signum

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


@jax.jit
def _finite_leaves(tree: Any) -> Any:
  return jax.tree.map(lambda x: jnp.all(jnp.isfinite(x))
                      if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.asarray(True), tree)


def first_non_finite(tree: Any) -> Optional[str]:
  """The path of the first floating-point leaf of ``tree`` holding an inf or NaN, else None."""
  flags = jax.device_get(_finite_leaves(tree))
  for path, ok in jax.tree_util.tree_flatten_with_path(flags)[0]:
    if not bool(ok):
      return jax.tree_util.keystr(path)
  return None


def fit(state: TrainState, *, train_step: Callable[[TrainState, dict], tuple[TrainState, dict]],
        batches: Batches, options: LoopOptions, workdir: str,
        evaluate: Optional[Callable[[TrainState], dict[str, float]]] = None,
        derive: Callable[[dict[str, float]], dict[str, float]] = lambda m: {},
        meta: Optional[dict] = None, log: Callable[[str], None] = print_flush,
        on_restore: Optional[Callable[[TrainState, dict], TrainState]] = None
        ) -> tuple[TrainState, dict[str, Any]]:
  """Trains ``state`` to ``options.num_steps`` steps; see the module docstring.

  ``train_step(state, batch) -> (state, metrics)`` is jitted by the caller (with donated
  state); ``metrics`` must hold ``loss`` and may hold ``grad_norm``. ``evaluate(state)``
  returns metrics holding ``options.best_metric``; non-scalar values (a confusion matrix)
  are logged and kept in the summary but not written to TensorBoard. ``derive`` adds metrics
  computed from a metric dict (perplexity, bits per character). Returns the final state and a summary with
  ``best`` (the best evaluation), ``best_step`` and ``stopped`` (why the loop ended).
  ``on_restore(state, saved meta) -> state`` adjusts a state restored from a checkpoint before
  the first step (the trainer's ``apply_config_learning_rate``).
  """
  meta = dict(meta or {})
  ckpt = Checkpointer(workdir, keep=options.keep_checkpoints)
  # The summary, including the early-stopping counters, is saved with every checkpoint.
  summary: dict[str, Any] = {"best": None, "best_step": None, "stopped": "num_steps",
                             "bad_evals": 0, "plateau_evals": 0}
  last_saved: Optional[int] = None
  try:
    resume = ckpt.newest_verified("last", log=log, move_aside=True)
  except BaseException:
    ckpt.close()
    raise
  if resume is not None:
    # ``state`` may be abstract (``jax.ShapeDtypeStruct`` with shardings): it is the target.
    try:
      state, data_state, saved_meta = ckpt.restore(state, resume)
    except BaseException:
      ckpt.close()
      raise
    if on_restore is not None:
      state = on_restore(state, saved_meta)
    batches.set_state(data_state)
    last_saved = int(state.step)
    summary.update(saved_meta.get("loop", {}))
    summary["stopped"] = "num_steps"  # why the earlier start ended is not why this one will
    log(f"resumed from {ckpt.directory} at step {last_saved} (data position {data_state})")
  step = int(state.step)
  writer = MetricWriter(workdir, tensorboard=options.tensorboard,
                        active=jax.process_index() == 0, resume_step=step)

  def where() -> str:
    return (f"the last good checkpoint is step {last_saved} in {ckpt.directory}"
            if last_saved is not None else "no checkpoint was written")

  def save(best: bool = False):
    nonlocal last_saved
    bad = first_non_finite({"params": state.params, "opt_state": state.opt_state,
                            "model_state": getattr(state, "model_state", None)})
    if bad is not None:
      raise FloatingPointError(f"non-finite values in {bad} after step {step}; not saved, "
                               f"{where()}")
    ckpt.save(step, state, batches.get_state(), {**meta, "loop": summary}, best=best)
    last_saved = step

  pending: Optional[tuple[int, dict]] = None

  def check(pending):
    if pending is None:
      return None
    at, metrics = pending
    host = {k: float(v) for k, v in jax.device_get(metrics).items()}
    for key in ("loss", "grad_norm"):
      if key in host and not _is_finite(host[key]):
        raise FloatingPointError(f"non-finite {key} ({host[key]}) at step {at}; training "
                                 f"stopped, {where()}")
    return host

  eval_every = options.eval_every or options.steps_per_epoch
  window: list[dict[str, float]] = []

  def flush():
    """Checks the metrics of the last step (once) and adds them to the logging window."""
    nonlocal pending
    if pending is not None:
      window.append(check(pending))
      pending = None

  # Progress (steps/s, tok/s, ETA) counts training steps only: the clock starts once the
  # first step of this start has run (its compilation is not a training speed), and time spent
  # evaluating and checkpointing is taken out.
  clock = {"started": False, "window_t": 0.0, "window_steps": 0, "busy": 0.0,
           "t0": 0.0, "steps": 0, "busy_total": 0.0}

  def timed(fn, *args, **kwargs):
    t = time.time()
    try:
      return fn(*args, **kwargs)
    finally:
      clock["busy"] += time.time() - t
      clock["busy_total"] += time.time() - t

  iterator = iter(batches)
  try:
    with _StopFlag() as stop:
      while step < options.num_steps:
        batch = next(iterator)
        state, metrics = train_step(state, batch)
        step += 1
        if not clock["started"]:
          jax.block_until_ready(metrics)  # the first step compiles: start the clock after it
          now = time.time()
          clock.update(started=True, window_t=now, t0=now, busy=0.0, busy_total=0.0)
        else:
          clock["window_steps"] += 1
          clock["steps"] += 1
        flush()  # the previous step's, read while this one runs
        pending = (step, metrics)
        if step % options.log_every == 0 or step == options.num_steps:
          flush()
          # A metric logged only at some steps (diagnostics) is averaged over those steps.
          keys = sorted(set().union(*window))
          mean = {k: sum(m[k] for m in window if k in m) / sum(k in m for m in window)
                  for k in keys}
          mean.update(derive(mean))
          if "learning_rate" not in mean:  # a step that schedules its own reports it
            mean["learning_rate"] = optim.learning_rate(state.opt_state)
          now = time.time()
          elapsed = now - clock["window_t"] - clock["busy"]
          rate = clock["window_steps"] / elapsed if clock["window_steps"] and elapsed > 0 else 0.0
          total = now - clock["t0"] - clock["busy_total"]
          per_step = total / clock["steps"] if clock["steps"] and total > 0 else 0.0
          eta = f" eta {(options.num_steps - step) * per_step / 60:.1f}m" if per_step else ""
          extra = (f" tok/s {rate * options.tokens_per_step:,.0f}"
                   if options.tokens_per_step and rate else "")
          log(f"step {step}/{options.num_steps} epoch {step / options.steps_per_epoch:.2f} "
              f"{_format(mean)}{extra}{eta}")
          writer.write(step, "train", {**mean, **({"steps_per_s": rate} if rate else {})})
          window = []
          clock.update(window_t=time.time(), window_steps=0, busy=0.0)
        if evaluate is not None and (step % eval_every == 0 or step == options.num_steps):
          flush()
          log(f"evaluating at step {step} ...")
          result = timed(evaluate, state)
          result.update(derive(result))
          writer.write(step, "eval", _scalars(result))
          if options.best_metric not in result:
            raise KeyError(f"evaluate() returned no {options.best_metric!r} (best_metric); "
                           f"it returned {sorted(result)}")
          value = result[options.best_metric]
          if summary["best"] is None:
            improved = True
          elif options.best_mode == "min":
            improved = value < summary["best"][options.best_metric]
          else:
            improved = value > summary["best"][options.best_metric]
          log(f"eval step {step}: {_format(result)}{' (best)' if improved else ''}")
          if improved:
            summary.update(best=result, best_step=step, bad_evals=0, plateau_evals=0)
            timed(save, best=True)
          else:
            summary["bad_evals"] += 1
            summary["plateau_evals"] += 1
            if options.plateau_factor and summary["plateau_evals"] >= options.plateau_patience:
              state = state.replace(opt_state=optim.decay_learning_rate(
                  state.opt_state, options.plateau_factor))
              summary["plateau_evals"] = 0
              log(f"learning rate decayed to {optim.learning_rate(state.opt_state):.4g}")
            if options.patience and summary["bad_evals"] >= options.patience:
              summary["stopped"] = (f"early stop: {summary['bad_evals']} evaluations without "
                                    "improvement")
              log(summary["stopped"])
              break
        if step % options.checkpoint_every == 0 and last_saved != step:
          flush()
          timed(save)
        if ckpt.reached_preemption(step):  # the cluster will take the machines back
          flush()
          summary["stopped"] = f"preempted at step {step}"
          if last_saved != step:
            timed(save)
          ckpt.finish()
          raise Interrupted(signal.SIGTERM, step, f"preempted: stopped at step {step}, saved "
                            f"in {ckpt.directory}; the same command resumes it")
        if stop.requested:
          flush()
          name = signal_name(stop.signum)
          summary["stopped"] = f"interrupted ({name}) at step {step}"
          if last_saved != step:  # an evaluation or checkpoint may have saved this step
            save()
          raise Interrupted(stop.signum, step, f"{name}: stopped at step {step}, saved in "
                            f"{ckpt.directory}; the same command resumes it")
      flush()
      if last_saved != step:
        save()
  except (Interrupted, FloatingPointError) as e:
    e.summary = dict(summary)  # what the caller reports (results.json)
    if isinstance(e, FloatingPointError):
      e.step = step
    raise
  finally:
    ckpt.close()
    writer.close()
  return state, summary
