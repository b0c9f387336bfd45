"""The generic loop on a toy problem: NaN handling, early stopping, interruption, logging."""

import json
import os
import signal
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from seqjax.train import Checkpointer, LoopOptions, TrainState, fit, optim
from seqjax.train.writer import read_metrics


class Counter:
  """Endless checkpointable batches: batch i is {"x": i}."""

  def __init__(self):
    self.i = 0

  def __iter__(self):
    while True:
      self.i += 1
      yield {"x": np.float32(self.i)}

  def get_state(self):
    return {"i": self.i}

  def set_state(self, state):
    self.i = state["i"]


def make(lr=0.1, poison_at=None, on_step=None):
  c = ml_collections.ConfigDict(dict(name="sgd", learning_rate=lr, momentum=0.0,
                                     weight_decay=0.0, clip_norm=0.0, schedule="constant"))
  tx = optim.make_optimizer(c, 10)
  params = {"w": jnp.array([3.0, -2.0])}
  state = TrainState(step=jnp.asarray(0, jnp.int32), params=params, opt_state=tx.init(params),
                     key=jax.random.PRNGKey(0))

  def train_step(state, batch):
    loss_fn = lambda p: jnp.sum(p["w"] ** 2) * (1.0 + 0.0 * batch["x"])
    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    if poison_at is not None:
      loss = jnp.where(batch["x"] == poison_at, jnp.nan, loss)
    if on_step is not None:
      on_step(int(batch["x"]))
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state), {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  return state, train_step


def options(**kw):
  base = dict(num_steps=12, steps_per_epoch=4, log_every=1, eval_every=4, checkpoint_every=5,
              tensorboard=True)
  base.update(kw)
  return LoopOptions(**base)


def test_trains_logs_and_checkpoints(tmp_path):
  state, step = make()
  logs = []
  final, summary = fit(state, train_step=step, batches=Counter(), options=options(),
                       workdir=str(tmp_path), evaluate=lambda s: {"loss": float(
                           jnp.sum(s.params["w"] ** 2))}, log=logs.append)
  assert int(final.step) == 12
  train = [m for m in read_metrics(str(tmp_path)) if m["split"] == "train"]
  assert [m["step"] for m in train] == list(range(1, 13))
  losses = [m["loss"] for m in train]
  np.testing.assert_allclose(losses[1] / losses[0], 0.8 ** 2, rtol=1e-5)  # w <- 0.8 w
  assert summary["best_step"] == 12 and summary["stopped"] == "num_steps"
  assert os.listdir(tmp_path / "tensorboard")
  assert Checkpointer(str(tmp_path)).latest_step() == 12
  assert any(line.startswith("step 12/12 epoch 3.00") and "eta" in line for line in logs)


def test_non_finite_loss_stops_naming_step_and_keeps_last_good_checkpoint(tmp_path):
  state, step = make(poison_at=7)
  with pytest.raises(FloatingPointError, match=r"non-finite loss \(nan\) at step 7.*step 5"):
    fit(state, train_step=step, batches=Counter(), options=options(), workdir=str(tmp_path),
        log=lambda _: None)
  assert Checkpointer(str(tmp_path)).latest_step() == 5


def test_early_stopping_on_validation(tmp_path):
  state, step = make()
  evals = iter([3.0, 2.0, 2.5, 2.6, 1.0])
  _, summary = fit(state, train_step=step, batches=Counter(), options=options(
      num_steps=40, eval_every=2, patience=2), workdir=str(tmp_path),
                   evaluate=lambda s: {"loss": next(evals)}, log=lambda _: None)
  assert summary["stopped"].startswith("early stop") and summary["best_step"] == 4
  assert Checkpointer(str(tmp_path)).latest_step("best") == 4


def test_interrupt_saves_the_finished_step_and_resume_continues(tmp_path):
  def interrupt(x):
    if x == 3:
      os.kill(os.getpid(), signal.SIGINT)

  state, step = make(on_step=interrupt)
  with pytest.raises(KeyboardInterrupt, match="step 3"):
    fit(state, train_step=step, batches=Counter(), options=options(), workdir=str(tmp_path),
        log=lambda _: None)
  assert Checkpointer(str(tmp_path)).latest_step() == 3
  # Resuming continues from step 3 and ends where an uninterrupted run ends.
  state, step = make()
  resumed, _ = fit(state, train_step=step, batches=Counter(), options=options(),
                   workdir=str(tmp_path), log=lambda _: None)
  state, step = make()
  straight, _ = fit(state, train_step=step, batches=Counter(), options=options(),
                    workdir=str(tmp_path / "straight"), log=lambda _: None)
  np.testing.assert_array_equal(resumed.params["w"], straight.params["w"])
  assert int(resumed.step) == 12


def test_logged_mean_covers_every_step_between_evals_and_checkpoints(tmp_path):
  state, step = make()
  fit(state, train_step=step, batches=Counter(), options=options(
      num_steps=8, log_every=4, eval_every=2, checkpoint_every=3), workdir=str(tmp_path),
      evaluate=lambda s: {"loss": 1.0}, log=lambda _: None)
  logged = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path)) if m["split"] == "train"}
  per_step = [13.0 * 0.64 ** k for k in range(8)]  # |w|^2 = 13, w <- 0.8 w every step
  np.testing.assert_allclose([logged[4], logged[8]],
                             [np.mean(per_step[:4]), np.mean(per_step[4:])], rtol=1e-5)


def test_progress_counts_training_steps_only(tmp_path):
  """A slow first step (compilation) and slow evaluations and saves do not enter steps/s or the
  ETA (before, the windows after them read 85 and 141 tok/s between 4,507 and 19,330)."""
  import time as time_lib  # pylint: disable=g-import-not-at-top
  state, step_fn = make()
  calls = {"n": 0}

  def slow_first(state, batch):
    calls["n"] += 1
    if calls["n"] == 1:
      time_lib.sleep(1.0)  # compiling
    return step_fn(state, batch)

  def slow_eval(state):
    time_lib.sleep(1.0)
    return {"loss": 1.0}

  logs = []
  opts = options(num_steps=40, log_every=10, eval_every=10, checkpoint_every=1000,
                 steps_per_epoch=10, tokens_per_step=100)
  fit(state, train_step=slow_first, batches=Counter(), options=opts, workdir=str(tmp_path),
      evaluate=slow_eval, log=logs.append)
  rates = [m["steps_per_s"] for m in read_metrics(str(tmp_path)) if m["split"] == "train"]
  assert len(rates) == 4 and min(rates) > 20  # a toy step takes well under 50 ms
  assert sum(line.startswith("evaluating at step") for line in logs) == 4
  etas = [float(line.split(" eta ")[1].rstrip("m")) for line in logs if " eta " in line]
  assert etas and max(etas) < 0.1  # minutes: not inflated by the sleeps


def test_preemption_saves_the_step_and_resume_continues(tmp_path, monkeypatch):
  """orbax's preemption notice (a SIGTERM to any process of a multi-process run) stops the
  loop at a step it saves and seals; the same call resumes from there."""
  from seqjax.train.loop import Interrupted  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(Checkpointer, "reached_preemption", lambda self, step: step == 7)
  state, step = make()
  with pytest.raises(Interrupted, match="preempted: stopped at step 7"):
    fit(state, train_step=step, batches=Counter(), options=options(), workdir=str(tmp_path),
        log=lambda _: None)
  ckpt = Checkpointer(str(tmp_path))
  assert ckpt.newest_verified() == 7  # saved and sealed
  ckpt.close()
  monkeypatch.setattr(Checkpointer, "reached_preemption", lambda self, step: False)
  logs = []
  final, _ = fit(state, train_step=step, batches=Counter(), options=options(),
                 workdir=str(tmp_path), log=logs.append)
  assert int(final.step) == 12 and any("resumed from" in line and "step 7" in line
                                       for line in logs)


def test_saves_are_asynchronous_and_sealed_before_reading(tmp_path):
  """``save`` returns before the checkpoint is sealed; the next save, a restore or close seal
  it, so a reader never sees an unsealed checkpoint as verified."""
  from seqjax.train import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  state, _ = make()
  ckpt = Checkpointer(str(tmp_path))
  ckpt.save(3, state, {"i": 3}, {})
  assert ckpt._pending == (3, False)  # pylint: disable=protected-access
  assert ckpt.newest_verified() == 3  # it waited and sealed first
  ckpt.save(5, state, {"i": 5}, {})
  ckpt.close()
  assert ckpt_lib.verify(ckpt.step_dir(5)) is None


def test_a_one_process_run_seals_each_save_once_written_for_other_readers(tmp_path):
  """A reader in another process (evaluation of a live run) finds the newest save sealed
  without waiting for the run's next save: a thread seals it once orbax has written it."""
  from seqjax.train import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  state, _ = make()
  ckpt = Checkpointer(str(tmp_path))
  ckpt.save(3, state, {"i": 3}, {}, best=True)
  unsealed = lambda: ckpt_lib.verify(ckpt.step_dir(3)) or ckpt_lib.verify(
      ckpt.step_dir(3, "best"))
  deadline = time.time() + 60
  while unsealed() and time.time() < deadline:
    time.sleep(0.05)
  assert ckpt_lib.verify(ckpt.step_dir(3)) is None  # nothing was called on ckpt meanwhile
  assert ckpt_lib.verify(ckpt.step_dir(3, "best")) is None
  ckpt.close()


def test_an_error_while_sealing_on_the_thread_is_raised_by_the_run(tmp_path, monkeypatch):
  from seqjax.train import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  state, _ = make()
  ckpt = Checkpointer(str(tmp_path))

  def full(directory):
    raise OSError(28, "No space left on device", directory)

  monkeypatch.setattr(ckpt_lib, "seal", full)
  ckpt.save(3, state, {"i": 3}, {})
  with pytest.raises(OSError, match="No space left on device"):
    ckpt.save(4, state, {"i": 4}, {})  # the next save first finishes the last one
  monkeypatch.undo()
  ckpt.close()
  assert ckpt_lib.verify(ckpt.step_dir(3)) is not None  # never sealed: it does not verify
