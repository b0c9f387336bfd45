"""The one trainer: ``train_and_evaluate(task, config, workdir)`` for every task.

It owns, for every task alike (``seqjax.train.task`` says what a task provides):

- checking the config against the task's schema, the device mesh (``config.parallel``) and the
  global batch;
- the ``TrainState``: its shapes from ``jax.eval_shape`` of the initialiser, placed with
  shardings, built by one jitted initialiser on a fresh run or restored straight into those
  shardings on a resumed one;
- the one train step (``make_train_step``), jitted with the state donated;
- evaluation (``evaluate_split``), the loop (``seqjax.train.loop.fit``: logging, best
  checkpoint, plateau, early stop, interruption), ``config.json`` and ``results.json``;
- ``restore(task, workdir)``: the one way to get a trained model back (inference CLIs), with
  no optimizer built for the purpose: the abstract state comes from ``jax.eval_shape`` with the
  optimizer the run itself trained with (its schedule lengths are saved in the checkpoint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import tempfile
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from seqjax import parallel
from seqjax.files import first_line
from seqjax.train import record as record_lib
from seqjax.train import checkpoint
from seqjax.train import config as config_lib
from seqjax.train import hostmem
from seqjax.train import optim
from seqjax.train import workdir as workdir_lib
from seqjax.train.checkpoint import CheckpointError
from seqjax.train.loop import Interrupted, LoopOptions, fit, print_flush
from seqjax.train.loop import signal_name as loop_signal_name
from seqjax.train.state import StatefulTrainState, TrainState, variables
from seqjax.train.task import InputError, Run, Task

# Config keys a resumed run may change: how long it runs, what it logs, checkpoints and
# evaluates, where the raw data lives (its contents are fingerprinted) and how it is laid out on
# the devices. Every other key shapes the model, the data, the vocabulary or the optimisation
# and must stay as the checkpoints were trained (``--allow_config_change`` overrides).
# ``Task.resume_free`` adds a task's own; an entry ending in "." covers a whole section.
MAY_CHANGE_ON_RESUME = (
    "train.num_epochs", "train.num_steps", "train.log_every", "train.eval_every",
    "train.checkpoint_every", "train.keep_checkpoints", "train.patience", "train.test_at_end",
    "train.eval_batch_size", "train.eval_batches", "data.manual_dir", "data.data_dir",
    "parallel.data", "parallel.model", "parallel.per_device_batch_size")


# ---- configuration -------------------------------------------------------------------------
def check_loop(train: ml_collections.ConfigDict,
               optimizer: Optional[ml_collections.ConfigDict] = None) -> None:
  """The loop keys every task shares (``experiments.common.loop_section``), and with the
  ``optimizer`` section, that a plateau decay is not combined with a schedule: the schedule
  would set the learning rate again on the next step, silently undoing the decay."""
  for key in ("batch_size", "log_every", "checkpoint_every", "eval_batch_size",
              "keep_checkpoints", "plateau_patience"):
    if key in train:
      config_lib.positive_int(f"train.{key}", train[key])
  for key in ("num_steps", "num_epochs", "eval_every", "patience"):
    if key in train:
      config_lib.nonnegative_int(f"train.{key}", train[key])
  if "plateau_factor" in train:
    config_lib.fraction("train.plateau_factor", train.plateau_factor)
  if train.num_steps == 0 and train.get("num_epochs", 0) < 1:
    raise ValueError("train.num_steps must be > 0, or train.num_epochs >= 1 when num_steps is 0")
  schedule = optimizer.get("schedule", "constant") if optimizer is not None else "constant"
  if train.get("plateau_factor", 0.0) and schedule not in ("constant", "plateau"):
    raise ValueError(f"train.plateau_factor={train.plateau_factor} cannot be combined with "
                     f"optimizer.schedule={schedule!r}: the schedule sets the learning rate "
                     "every step and would undo each decay; use optimizer.schedule='plateau'")


def data_parallel(config: ml_collections.ConfigDict,
                  log: Callable[[str], None] = print) -> parallel.DataParallel:
  """The run's ``DataParallel`` from ``config.parallel`` (one device when the config has no
  such section), starting ``jax.distributed`` when launched as several processes. Resolves
  ``train.batch_size`` to the global batch (from ``parallel.per_device_batch_size`` when set)
  and checks that it splits over the devices; call it before building batches."""
  if "parallel" not in config:
    return parallel.DataParallel(parallel.make_mesh(1, 1))
  section = config.parallel
  config_lib.positive_int("parallel.model", section.model)
  if section.data != -1:
    config_lib.positive_int("parallel.data", section.data)
  par = parallel.from_config(section)
  if section.per_device_batch_size:
    config_lib.positive_int("parallel.per_device_batch_size", section.per_device_batch_size)
    config.train.batch_size = section.per_device_batch_size * par.data_size
  par.check_batch_size(config.train.batch_size)
  log(f"{parallel.describe(par.mesh)}; global batch {config.train.batch_size} "
      f"({config.train.batch_size // par.data_size} per device)")
  if par.data_size > 1 and jax.default_backend() == "cpu":
    from seqjax.recurrence import onednn  # pylint: disable=g-import-not-at-top
    if onednn.auto_enabled() and onednn.available():
      log(f"recurrent layers: backend='auto' runs the fused path on this {par.data_size}-way "
          "data-parallel mesh, not oneDNN (XLA cannot split its call by the batch; each device "
          "would run the whole batch)")
  return par


def shard_vocab(par: parallel.DataParallel, config: ml_collections.ConfigDict,
                vocab_size: int, log: Callable[[str], None] = print) -> None:
  """With ``parallel.shard_vocab``: the embedding rows and softmax columns of ``vocab_size``
  go over the model axis."""
  if "parallel" not in config or not config.parallel.shard_vocab:
    return
  model = config.parallel.model
  if model < 2 or not vocab_size or vocab_size % model:
    raise ValueError(f"parallel.shard_vocab needs parallel.model > 1 dividing the vocabulary "
                     f"size; got model={model}, vocabulary {vocab_size or 'none'}")
  par.vocab_size = vocab_size
  log(f"vocabulary axis ({vocab_size}) sharded over model={model}")


def loop_options(task: Task, config: ml_collections.ConfigDict, num_steps: int,
                 steps_per_epoch: int, tokens_per_step: int = 0) -> LoopOptions:
  t = config.train
  metric, mode = task.best_metric(config)
  return LoopOptions(num_steps=num_steps, steps_per_epoch=steps_per_epoch,
                     log_every=t.log_every, eval_every=t.get("eval_every", 0),
                     checkpoint_every=t.checkpoint_every,
                     keep_checkpoints=t.get("keep_checkpoints", 3),
                     patience=t.get("patience", 0), plateau_factor=t.get("plateau_factor", 0.0),
                     plateau_patience=t.get("plateau_patience", 1),
                     tokens_per_step=tokens_per_step, best_metric=metric, best_mode=mode)


# ---- state ---------------------------------------------------------------------------------
def state_initializer(task: Task, config: ml_collections.ConfigDict, model: nn.Module,
                      optimizer: optax.GradientTransformation, meta: dict,
                      batch_size: int) -> Callable[[], TrainState]:
  """``init() -> TrainState``: parameters from ``PRNGKey(config.seed)``'s first half, the
  training key its second half, the optimizer state and the task's initial carry."""

  def init() -> TrainState:
    init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
    params = task.init_params(model, init_key, config, meta)
    carry = task.initial_carry(model, params, batch_size, config) if task.carries_state else None
    model_state = task.init_model_state(model, init_key, config, meta)
    fields = dict(step=jnp.asarray(0, jnp.int32), params=params,
                  opt_state=optimizer.init(params), key=train_key, carry=carry)
    if model_state is None:
      return TrainState(**fields)
    return StatefulTrainState(**fields, model_state=model_state)

  return init


def abstract_state(init: Callable[[], TrainState], shardings: Any = None) -> Any:
  """The state's shapes and dtypes (``jax.eval_shape``; nothing is computed), with
  ``shardings`` attached when given: the target a checkpoint restores into."""
  shapes = jax.eval_shape(init)
  if shardings is None:
    return shapes
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      shapes, shardings)


def make_train_step(task: Task, model: nn.Module, optimizer: optax.GradientTransformation,
                    config: ml_collections.ConfigDict,
                    loss: Optional[Callable] = None) -> Callable:
  """The train step of every task: ``train_step(state, batch) -> (state, metrics)``.

  Step ``s`` draws its randomness from ``fold_in(state.key, s)``; the task's ``loss`` returns
  the objective (differentiated), its metrics (``loss`` among them) and the new carry (its
  gradient stopped: truncated BPTT); for a model with state (``StatefulTrainState``) it is
  given ``model_state=`` and returns the new model state fourth. ``grad_norm`` (and ``grad_norm_clipped`` under
  ``optimizer.clip_norm``) is added. ``loss`` replaces ``task.loss`` (the same signature; a
  task binds data-dependent constants this way). Jit it with the state donated (the trainer
  does).
  """
  loss = task.loss if loss is None else loss
  clip = config.optimizer.get("clip_norm", 0.0) if "optimizer" in config else 0.0

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    key = jax.random.fold_in(state.key, state.step)
    old_state = getattr(state, "model_state", None)  # a StatefulTrainState's

    def loss_fn(params):
      if old_state is None:
        objective, metrics, carry = loss(model, params, batch, key=key, carry=state.carry,
                                         config=config)
        return objective, (metrics, carry, None)
      objective, metrics, carry, model_state = loss(
          model, params, batch, key=key, carry=state.carry, config=config,
          model_state=old_state)
      return objective, (metrics, carry, model_state)

    (_, (metrics, carry, model_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    norm = optax.tree.norm(grads)
    metrics = {**metrics, "grad_norm": norm}
    if clip:
      metrics["grad_norm_clipped"] = jnp.minimum(norm, clip)
    if carry is not None:
      carry = jax.lax.stop_gradient(carry)
    state = state.replace(step=state.step + 1, params=params, opt_state=opt_state, carry=carry)
    if old_state is not None:
      state = state.replace(model_state=jax.lax.stop_gradient(model_state))
    return state, metrics

  return train_step


# ---- evaluation ----------------------------------------------------------------------------
NOT_MODEL_INPUTS = ("epoch", "reset")


def evaluate_split(run: Run, params: Any, split: str) -> dict:
  """One pass of ``run.task.eval_step`` over split ``split``; the sums are added on the host in
  float64 (so a split's score does not depend on how it is batched), then ``finalize``d. The
  carry (``carries_state`` tasks) flows from batch to batch from zeros."""
  task, config = run.task, run.config
  size = config.train.get("eval_batch_size", config.train.batch_size)
  carry = (task.initial_carry(run.model, params, size, config) if task.carries_state else None)
  totals: dict[str, Any] = {}
  for batch in run.data.evals[split].epoch_batches():
    batch = {k: v for k, v in batch.items() if k not in NOT_MODEL_INPUTS}
    batch, carry = run.parallel.place_eval(batch, carry, size)
    sums, carry = run.eval_step(params, batch, carry)
    for k, v in jax.device_get(sums).items():
      totals[k] = totals.get(k, 0.0) + np.asarray(v, np.float64)
  if not totals:
    raise ValueError(f"evaluate: split {split!r} has no batches")
  return task.finalize(totals, split, config)


# ---- the trainer ---------------------------------------------------------------------------
def _write_json(workdir: str, name: str, value: Any) -> None:
  if jax.process_index() == 0:
    with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
      json.dump(value, f, indent=1)


def _flat(tree: dict) -> dict[str, Any]:
  return config_lib.leaves(tree)


def record_config(workdir: str, config: ml_collections.ConfigDict,
                  log: Callable[[str], None]) -> list[str]:
  """Writes ``workdir/config.json`` on a run's first start. A later start keeps that record and
  logs the keys whose values differ from it (checking whether a resume may change them is the
  job of the resume checks), returning them."""
  path = os.path.join(workdir, "config.json")
  new = json.loads(config.to_json())
  if not os.path.exists(path):
    _write_json(workdir, "config.json", new)
    return []
  with open(path, encoding="utf-8") as f:
    old = json.load(f)
  before, after = _flat(old), _flat(new)
  changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
  if changed:
    log(f"config differs from {os.path.join(workdir_lib.shown(workdir), 'config.json')} (kept "
        "as the run's first config) in: " + ", ".join(
        f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in changed))
  return changed


def num_steps_of(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
  t = config.train
  return t.num_steps or t.get("num_epochs", 0) * steps_per_epoch


def resume_conflicts(task: Task, saved: ml_collections.ConfigDict,
                     config: ml_collections.ConfigDict) -> list[tuple[str, Any, Any]]:
  """``(key, saved value, new value)`` for each key a resumed run may not change (every key but
  ``MAY_CHANGE_ON_RESUME`` and the task's ``resume_free``), sorted by key."""
  free = MAY_CHANGE_ON_RESUME + tuple(task.resume_free)
  before, after = _flat(json.loads(saved.to_json())), _flat(json.loads(config.to_json()))
  missing = object()
  out = []
  for key in sorted(set(before) | set(after)):
    if _is_free(key, free):
      continue
    old, new = before.get(key, missing), after.get(key, missing)
    if old != new:
      out.append((key, "(absent)" if old is missing else old,
                  "(absent)" if new is missing else new))
  return out


def check_resume(task: Task, saved_meta: dict, config: ml_collections.ConfigDict, workdir: str,
                 step: int, allow_config_change: bool, log: Callable[[str], None]) -> None:
  """Refuses (``InputError``, one line naming the first differing key) to resume a checkpoint
  of another task or one trained with a config that differs from ``config`` in a key that may
  not change; with ``allow_config_change`` the differences are only logged."""
  saved_task = saved_meta.get("task")
  if saved_task is not None and saved_task != task.name:
    raise InputError(f"--workdir={workdir} holds a {saved_task!r} run, not {task.name!r}; use "
                     "another --workdir")
  if "config" not in saved_meta:
    return
  saved = ml_collections.ConfigDict(json.loads(saved_meta["config"]))
  conflicts = resume_conflicts(task, saved, config)
  if not conflicts:
    return
  listed = ", ".join(f"{k} {old!r} -> {new!r}" for k, old, new in conflicts)
  if allow_config_change:
    log(f"--allow_config_change: resuming step {step} of {workdir} with a changed config: "
        f"{listed}")
    return
  key, old, new = conflicts[0]
  more = f" (and {len(conflicts) - 1} more: {', '.join(k for k, _, _ in conflicts[1:4])}" \
      f"{' ...' if len(conflicts) > 4 else ''})" if len(conflicts) > 1 else ""
  raise InputError(f"--workdir={workdir} was trained with {key}={old!r}, the config now says "
                   f"{new!r}{more}; a resumed run keeps the keys that shape the model, the data "
                   "and the optimisation: use another --workdir, or pass --allow_config_change to "
                   "continue from its checkpoint (step "
                   f"{step}) with the new config")


def apply_config_learning_rate(config: ml_collections.ConfigDict, log: Callable[[str], None]
                               ) -> Callable[[Any, dict], Any]:
  """``fit``'s ``on_restore``: a resumed run trains at the config's learning rate.

  With a constant or plateau schedule optax keeps the rate in the optimizer state, so a
  checkpoint brings back the rate it was trained with. When the config changed
  ``optimizer.learning_rate`` (``--allow_config_change``), the restored rate is multiplied by
  new / old (the config's rate itself, unless plateau decays had lowered it: those are kept),
  and the log says so. Other schedules compute the rate from the config at every step."""
  def on_restore(state: Any, saved_meta: dict) -> Any:
    opt = config.get("optimizer")
    if opt is None or opt.get("schedule", "constant") not in ("constant", "plateau"):
      return state
    saved = json.loads(saved_meta.get("config", "{}")).get("optimizer", {})
    old, new = saved.get("learning_rate"), opt.get("learning_rate")
    if old is None or new is None or old == new:
      return state
    try:
      restored = optim.learning_rate(state.opt_state)
    except (AttributeError, IndexError, KeyError, TypeError):  # a task's own optimizer
      log(f"optimizer.learning_rate {old!r} -> {new!r}: this task's optimizer state has no "
          "learning rate to set; the change applies as the task's optimizer reads the config")
      return state
    decayed = abs(restored - old) > 1e-6 * abs(old)  # beyond float32's rounding of ``old``
    rate = restored * new / old if decayed else new
    log(f"optimizer.learning_rate {old!r} -> {new!r}: the restored rate {restored:g} becomes "
        f"{rate:g}" + (" (the plateau decays so far are kept)" if decayed else ""))
    return state.replace(opt_state=optim.set_learning_rate(state.opt_state, rate))
  return on_restore


def _write_stop(workdir: str, summary: dict, steps: int, steps_per_epoch: int,
                stopped: str) -> None:
  _write_json(workdir, "results.json", {
      "stopped": stopped, "best_step": summary.get("best_step"), "best": summary.get("best"),
      "steps": steps, "steps_per_epoch": steps_per_epoch})


def train_and_evaluate(task: Task, config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print_flush,
                       allow_config_change: bool = False) -> dict[str, Any]:
  """Trains ``task`` as ``config`` says in ``workdir`` (resuming a run found there), keeps the
  best checkpoint by ``task.best_metric``, scores the final splits with it (``test_at_end``)
  and returns the summary, also written to ``workdir/results.json``.

  The workdir is locked for the run (``seqjax.train.workdir``: a second trainer is refused). A
  resumed run starts from the newest checkpoint that verifies, and only when the config saved
  with it agrees with ``config`` on every key ``MAY_CHANGE_ON_RESUME`` does not list
  (``allow_config_change`` lets them differ). Errors the user can fix are ``InputError``; an
  interruption (``Interrupted``) or a non-finite stop writes ``results.json`` saying so.
  """
  task.check(config)
  check_loop(config.train, config.get("optimizer"))
  try:
    workdir_lib.check_workdir(workdir)
    if not workdir_lib.is_remote(workdir):
      mirrored = workdir_lib.remote_of(workdir)
      if mirrored:  # its checkpoints are in the bucket; only the URL takes the bucket's lease
        raise ValueError(f"--workdir={workdir} is the local mirror of {mirrored}: pass "
                         f"--workdir={mirrored}")
      os.makedirs(workdir, exist_ok=True)
  except (ValueError, OSError) as e:
    raise InputError(str(e)) from e
  par = data_parallel(config, log=log)
  hostmem.tune_malloc(logging.info)  # after data_parallel: it may start jax.distributed
  first = jax.process_index() == 0
  with contextlib.ExitStack() as stack:
    try:
      if workdir_lib.is_remote(workdir):
        # the lease on the bucket first, then this machine's mirror of the run's records
        stack.enter_context(workdir_lib.RemoteLock(workdir, active=first, log=log))
        mirror = workdir_lib.open_mirror(workdir, pull=first)
        if first:
          stack.callback(mirror.push)
        log(f"--workdir={workdir}: checkpoints written there, the run's records mirrored in "
            f"{mirror.local} and uploaded after each checkpoint and at the end")
        workdir = mirror.local
      stack.enter_context(workdir_lib.WorkdirLock(workdir, active=first))
    except workdir_lib.WorkdirBusy as e:
      raise InputError(str(e)) from None
    except (OSError, ValueError) as e:  # the bucket cannot be reached or read
      raise InputError(f"--workdir={workdir}: {first_line(e, with_type=True)}") from e
    return _train_locked(task, config, workdir, log, allow_config_change, par)


def _train_locked(task: Task, config: ml_collections.ConfigDict, workdir: str,
                  log: Callable[[str], None], allow_config_change: bool,
                  par: parallel.DataParallel) -> dict[str, Any]:
  try:
    resume_step, saved = checkpoint.resume_point(workdir, log=log)
  except CheckpointError as e:
    raise InputError(str(e)) from e
  if saved is not None:
    check_resume(task, saved, config, workdir_lib.shown(workdir), resume_step,
                 allow_config_change, log)
  try:
    data = task.data(config, saved)
  except (ValueError, OSError) as e:  # a bad file or a value that does not fit the data
    raise InputError(str(e)) from e
  if data.summary:
    log(data.summary)
  shard_vocab(par, config, data.vocab_size, log=log)
  batch_size = config.train.batch_size
  steps_per_epoch = data.steps_per_epoch
  num_steps = num_steps_of(config, steps_per_epoch)

  model = task.model(config, data.meta, data)
  optimizer = task.optimizer(config, steps_per_epoch, num_steps)
  init = state_initializer(task, config, model, optimizer, data.meta, batch_size)
  shapes = jax.eval_shape(init)
  shardings = par.state_shardings(shapes)
  # A resumed run restores straight into the shardings (``fit`` does); a new one is built.
  state = (abstract_state(init, shardings) if resume_step is not None
           else jax.jit(init, out_shardings=shardings)())
  n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes.params))
  log(f"model: {task.describe(config, model)}, {n_params:,} parameters; {steps_per_epoch} steps "
      f"per epoch, {num_steps} steps")

  run = Run(task=task, config=config, workdir=workdir, data=data, model=model, parallel=par,
            log=log)
  run.eval_step = jax.jit(par.sharded(lambda params, batch, carry: task.eval_step(
      model, params, batch, carry, config)))
  train_step = task.wrap_step(run, par.jit_train_step(task.train_step(run, optimizer), shapes,
                                                      data.example, batch_size))
  select = task.selection_split(run)
  meta = {**data.meta, "task": task.name, "config": config.to_json(),
          "schedule": {"steps_per_epoch": steps_per_epoch, "num_steps": num_steps}}
  record_config(workdir, config, log)
  if jax.process_index() == 0:
    record_lib.record_start(workdir, resume_step or 0)
  options = loop_options(task, config, num_steps, steps_per_epoch, data.tokens_per_step)
  try:
    state, summary = fit(state, train_step=train_step,
                         batches=par.batches(data.train, batch_size), options=options,
                         workdir=workdir,
                         evaluate=lambda s: task.evaluate(run, variables(s), select),
                         derive=lambda m: task.derive(m, config), meta=meta, log=log,
                         on_restore=apply_config_learning_rate(config, log))
  except Interrupted as e:
    _write_stop(workdir, getattr(e, "summary", {}), e.step, steps_per_epoch,
                f"interrupted ({loop_signal_name(e.signum)})" + (
                    f" at step {e.step}" if e.step is not None else ""))
    raise
  except FloatingPointError as e:
    _write_stop(workdir, getattr(e, "summary", {}), getattr(e, "step", None), steps_per_epoch,
                str(e))
    raise
  except CheckpointError as e:
    raise InputError(str(e)) from e
  run.summary = summary

  result: dict[str, Any] = {"stopped": summary["stopped"], "best_step": summary["best_step"],
                            "steps": int(state.step), "steps_per_epoch": steps_per_epoch}
  if task.score_last:
    last = task.evaluate(run, variables(state), select)
    last.update(task.derive(last, config))
    result[f"{select}_last"] = last
    log(f"{select} (last step {int(state.step)}): " + " ".join(
        f"{k} {v:.4f}" for k, v in last.items() if k in ("accuracy", "loss")))
  if config.train.get("test_at_end", True):
    if task.restore_best(run) and summary["best_step"] is not None:
      ckpt = checkpoint.Checkpointer(workdir)
      try:
        best = ckpt.newest_verified("best", log=log)
        if best is None:
          raise CheckpointError(f"no best checkpoint in {ckpt.best.directory}")
        state, _, _ = ckpt.restore(state, best, which="best")
      except CheckpointError as e:
        log(f"{e}: the final splits are scored with the last state (step {int(state.step)}) "
            "instead of the best checkpoint")
        result["scored_with"] = f"last state, step {int(state.step)} (best checkpoint unusable)"
      finally:
        ckpt.close()
    run.final = True
    for split in task.final_splits(run):
      log(f"scoring {split} ...")
      scores = task.evaluate(run, variables(state), split)
      scores.update(task.derive(scores, config))
      result[split] = scores
      log(task.format_scores(run, split, scores, summary["best_step"]))
  task.report(run, state, result)
  _write_json(workdir, "results.json", result)
  if jax.process_index() == 0:
    metric, _ = task.best_metric(config)
    record_lib.write_final(workdir, config, result, step=int(result.get("steps") or 0),
                           curves=("loss", metric), log=log)
  return result


# ---- restoring a trained model -------------------------------------------------------------
@dataclasses.dataclass
class Restored:
  """A trained workdir's ``config``, ``meta`` (vocabularies, ...), ``model`` and ``params``
  (for a model with state, the Flax variables ``{"params": ..., "batch_stats": ...}``:
  ``seqjax.train.state.variables``)."""
  config: ml_collections.ConfigDict
  meta: dict
  model: nn.Module
  params: Any
  step: int


def _pick(workdir: str, which: str, log: Callable[[str], None]) -> tuple[str, int, dict]:
  """``(which, step, meta)`` of the checkpoint to read: the newest verified one of ``which``;
  when no best checkpoint verifies, the newest verified last one, said in one line."""
  if workdir_lib.is_remote(workdir):
    try:
      workdir_lib.check_remote(workdir)
    except ValueError as e:
      raise FileNotFoundError(str(e)) from None
  if not workdir_lib.path(workdir).is_dir():
    raise FileNotFoundError(f"--workdir={workdir!r} is not a directory")
  live = workdir_lib.live_holder(workdir)
  if live:  # a checkpoint it is saving has no seal yet: say so, not that the files are bad
    running = (f"pid {live['pid']} is training in --workdir={workdir} now (since "
               f"{live.get('since', '?')}), so a checkpoint it is still saving does not verify "
               "yet")
    plain = log
    log = lambda m: plain(f"{m} ({running})" if "does not verify" in m else m)
  try:
    step, meta = checkpoint.read_meta(workdir, which=which, log=log)
    return which, step, meta
  except (CheckpointError, FileNotFoundError) as e:
    if which != "best":
      if live and isinstance(e, CheckpointError):
        raise CheckpointError(f"no {which} checkpoint of --workdir={workdir} verifies yet: "
                              f"{running}; wait for its next save") from None
      raise
    try:
      step, meta = checkpoint.read_meta(workdir, which="last", log=log)
    except (CheckpointError, FileNotFoundError):
      if live and isinstance(e, CheckpointError):
        raise CheckpointError(f"no checkpoint of --workdir={workdir} verifies yet: {running}; "
                              "wait for its next save") from None
      raise e from None
    if live:
      plain(f"no best checkpoint of --workdir={workdir} verifies yet ({running}); using the "
            f"newest verified last checkpoint (step {step}) instead")
    else:
      log(f"{e}; using the newest verified last checkpoint (step {step}) instead")
    return "last", step, meta


def _stderr(message: str) -> None:
  """Where ``restore`` reports a skipped checkpoint: stderr, so an inference tool's stdout
  holds only its output."""
  print(message, file=sys.stderr, flush=True)


def read_run(workdir: str, which: str = "best", log: Callable[[str], None] = _stderr
             ) -> tuple[dict, ml_collections.ConfigDict]:
  """``(meta, config)`` saved with checkpoint ``which`` (``best`` or ``last``) of a trained
  workdir; ``FileNotFoundError`` names ``--workdir`` when it is not a directory or holds no
  checkpoint, ``CheckpointError`` when none verifies."""
  _, _, meta = _pick(workdir, which, log)
  return meta, ml_collections.ConfigDict(json.loads(meta["config"]))


def restore(task: Task, workdir: str, which: str = "best",
            log: Callable[[str], None] = _stderr) -> Restored:
  """The model and parameters of checkpoint ``which`` of a workdir ``task`` trained: the
  config and metadata saved with it rebuild the model, ``jax.eval_shape`` of the run's own
  initialiser (its optimizer included) gives the target, and the state is restored into it on
  the first device. The checkpoint's files are verified first (a best checkpoint that does not
  verify falls back, in one logged line, to the newest last one that does); a workdir of
  another task and a checkpoint whose arrays do not fit the target are refused."""
  which, step, meta = _pick(workdir, which, log)
  if meta.get("task", task.name) != task.name:
    raise ValueError(f"--workdir={workdir} holds a {meta['task']!r} run, not {task.name!r}")
  config = ml_collections.ConfigDict(json.loads(meta["config"]))
  try:
    if "task" not in meta:  # written before runs recorded their task
      config_lib.check_keys(config, task.schema(), free=task.free())
  except ValueError as e:
    raise ValueError(f"--workdir={workdir} does not hold a {task.name} run: its saved config "
                     f"has {str(e).split(' (did you')[0].replace('unknown config key', 'key')}, "
                     f"which a {task.name} config has not") from None
  if "schedule" not in meta:
    raise ValueError(f"{workdir}: the checkpoint has no schedule record; it was written by an "
                     "older seqjax (before the one trainer): retrain, or restore it with that "
                     "version")
  missing = config_lib.missing_keys(config, task.schema(), task.free())
  if missing:
    raise ValueError(f"{workdir}: the config saved with the checkpoint lacks {missing[:4]}"
                     f"{' ...' if len(missing) > 4 else ''} of today's {task.name} config; it was "
                     "written by an older seqjax: retrain, or restore it with that version")
  model = task.model(config, meta, None)
  optimizer = task.optimizer(config, meta["schedule"]["steps_per_epoch"],
                             meta["schedule"]["num_steps"])
  init = state_initializer(task, config, model, optimizer, meta, config.train.batch_size)
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = abstract_state(init, jax.tree.map(lambda _: device, jax.eval_shape(init)))
  ckpt = checkpoint.Checkpointer(workdir)
  try:
    state, _, _ = ckpt.restore(target, step, which=which)
  finally:
    ckpt.close()
  return Restored(config=config, meta=meta, model=model, params=variables(state),
                  step=int(state.step))


# ---- evaluating a trained workdir ----------------------------------------------------------
def evaluate_checkpoint(task: Task, workdir: str, config: ml_collections.ConfigDict, *,
                        which: str = "best", splits: Optional[list[str]] = None,
                        log: Callable[[str], None] = print) -> dict[str, Any]:
  """Scores checkpoint ``which`` (``"best"`` or ``"last"``) of a trained workdir on ``splits``
  (default: every evaluation split), as the end of training does, and writes
  ``workdir/eval_<which>.json``. The model, data and metadata are the checkpoint's own: of
  ``config`` only the keys a resumed run may change are used (``MAY_CHANGE_ON_RESUME``, e.g.
  ``data.manual_dir`` to score data from another directory, and the task's ``resume_free``)."""
  restored = restore(task, workdir, which, log=log)
  if workdir_lib.is_remote(workdir):
    # outputs go to a mirror of its own (a run training in the bucket may hold the default
    # one), uploaded at the end
    with tempfile.TemporaryDirectory(prefix="seqjax-eval-") as local:
      mirror = workdir_lib.open_mirror(workdir, local=local)
      try:
        return _evaluate_restored(task, mirror.local, config, restored, which, splits, log)
      finally:
        mirror.push()
  return _evaluate_restored(task, workdir, config, restored, which, splits, log)


def _evaluate_restored(task: Task, workdir: str, config: ml_collections.ConfigDict,
                       restored: Restored, which: str, splits: Optional[list[str]],
                       log: Callable[[str], None]) -> dict[str, Any]:
  saved = restored.config
  free = MAY_CHANGE_ON_RESUME + tuple(task.resume_free)
  before, after = _flat(json.loads(saved.to_json())), _flat(json.loads(config.to_json()))
  merged = ml_collections.ConfigDict(json.loads(saved.to_json()))
  for key, value in after.items():
    if before.get(key) != value and _is_free(key, free):
      node = merged
      *parents, leaf = key.split(".")
      for p in parents:
        node = node[p]
      node[leaf] = value
      log(f"evaluating with {key}={value!r} (trained with {before.get(key)!r})")
  data = task.data(merged, restored.meta)
  par = parallel.DataParallel(parallel.make_mesh(1, 1))
  run = Run(task=task, config=merged, workdir=workdir, data=data, model=restored.model,
            parallel=par, log=log, final=True)
  run.eval_step = jax.jit(lambda params, batch, carry: task.eval_step(
      restored.model, params, batch, carry, merged))
  chosen = list(splits) if splits else list(data.evals)
  unknown = [s for s in chosen if s not in data.evals]
  if unknown:
    raise ValueError(f"--split: {unknown} not among this task's evaluation splits "
                     f"{sorted(data.evals)}")
  result: dict[str, Any] = {"checkpoint": which, "step": restored.step}
  for split in chosen:
    log(f"scoring {split} ...")
    scores = task.evaluate(run, restored.params, split)
    scores.update(task.derive(scores, merged))
    result[split] = scores
    log(task.format_scores(run, split, scores, restored.step))
  _write_json(workdir, f"eval_{which}.json", result)
  return result


def _is_free(key: str, free: tuple[str, ...]) -> bool:
  """Whether config key ``key`` is one of ``free`` or under a section ``"name."`` of it."""
  return any(key == f or (f.endswith(".") and key.startswith(f)) for f in free)
