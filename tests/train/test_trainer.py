"""The one trainer on a toy task defined here: what adding a task takes (one ``Task`` subclass,
no trainer code), and what the trainer owns for every task: the loop, resume, the best
checkpoint, ``config.json``, ``results.json`` and ``restore``."""

import json

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments import common
from seqjax.train import trainer
from seqjax.train.task import Data, Task
from seqjax.train.writer import read_metrics

W_TRUE = np.array([[1.5], [-2.0], [0.5]], np.float32)


class Regression:
  """Endless, checkpointable batches of ``y = x @ W_TRUE + noise``; batch ``k`` is a function of
  ``(seed, k)``."""

  def __init__(self, seed: int, batch_size: int, num_batches: int = 8):
    self.seed, self.batch_size, self.num_batches, self.position = seed, batch_size, num_batches, 0

  def batch(self, k: int) -> dict:
    rng = np.random.default_rng((self.seed, k))
    x = rng.normal(size=(self.batch_size, 3)).astype(np.float32)
    y = x @ W_TRUE + 0.01 * rng.normal(size=(self.batch_size, 1)).astype(np.float32)
    return {"x": x, "y": y}

  def __len__(self):
    return self.num_batches

  def __iter__(self):
    while True:
      batch = self.batch(self.position)
      self.position += 1
      yield batch

  def epoch_batches(self):
    return (self.batch(k) for k in range(self.num_batches))

  def get_state(self):
    return {"position": self.position}

  def set_state(self, state):
    self.position = int(state["position"])


class ToyTask(Task):
  """Linear regression with a Dense layer: every part a task has, in 30 lines."""
  name = "toy"

  def schema(self):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.train = common.loop_section(num_steps=100, log_every=5, eval_every=10,
                                  checkpoint_every=10)
    c.train.batch_size = 16
    c.train.eval_batch_size = 16
    c.optimizer = common.optimizer_section(name="adam", learning_rate=0.1)
    return c

  def data(self, config, meta):
    train = Regression(config.seed, config.train.batch_size)
    evals = {"validation": Regression(config.seed + 1, config.train.eval_batch_size, 2)}
    return Data(train=train, evals=evals, meta={"inputs": 3}, steps_per_epoch=len(train),
                example=train.batch(0), summary="toy regression")

  def model(self, config, meta, data=None):
    return nn.Dense(1)

  def init_params(self, model, key, config, meta):
    return model.init(key, jnp.zeros((1, meta["inputs"])))["params"]

  def loss(self, model, params, batch, *, key, carry, config):
    mse = jnp.mean((model.apply({"params": params}, batch["x"]) - batch["y"]) ** 2)
    return mse, {"loss": mse}, None

  def eval_step(self, model, params, batch, carry, config):
    err = (model.apply({"params": params}, batch["x"]) - batch["y"]) ** 2
    return {"sse": jnp.sum(err), "n": err.shape[0]}, carry

  def finalize(self, sums, split, config):
    return {"loss": float(sums["sse"] / sums["n"])}


def train_losses(workdir):
  return {m["step"]: m["loss"] for m in read_metrics(str(workdir)) if m["split"] == "train"}


def test_a_toy_task_trains_and_the_trainer_writes_its_records(tmp_path):
  task = ToyTask()
  config = task.schema()
  result = trainer.train_and_evaluate(task, config, str(tmp_path), log=lambda _: None)
  losses = train_losses(tmp_path)
  assert losses[100] < 0.01 * losses[5]
  assert result["validation"]["loss"] < 1e-3 and result["steps"] == 100
  assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(result))
  assert json.loads((tmp_path / "config.json").read_text())["train"]["num_steps"] == 100
  # The one restore path: the best checkpoint's parameters, without building an optimizer.
  restored = trainer.restore(task, str(tmp_path))
  assert restored.step == result["best_step"]
  np.testing.assert_allclose(np.asarray(restored.params["kernel"]), W_TRUE, atol=0.05)


def test_resume_is_exact_and_uses_the_saved_metadata(tmp_path):
  task = ToyTask()
  straight = trainer.train_and_evaluate(task, task.schema(), str(tmp_path / "a"),
                                        log=lambda _: None)
  short = task.schema()
  short.train.num_steps = 23  # stops between checkpoints: the last is saved at the end
  trainer.train_and_evaluate(task, short, str(tmp_path / "b"), log=lambda _: None)
  logs = []
  resumed = trainer.train_and_evaluate(task, task.schema(), str(tmp_path / "b"), log=logs.append)
  assert any("resumed from" in line and "at step 23" in line for line in logs)
  a, b = train_losses(tmp_path / "a"), train_losses(tmp_path / "b")
  assert all(a[s] == b[s] for s in range(30, 101, 5))
  assert resumed["validation"] == straight["validation"]
  # The checkpoint carries the task's meta and the schedule the run's optimizer was built with.
  meta, saved = trainer.read_run(str(tmp_path / "b"), which="last")
  assert meta["inputs"] == 3 and saved.train.num_steps == 100
  assert meta["schedule"] == {"steps_per_epoch": 8, "num_steps": 100}
  # config.json stays the run's first config; the resumed start named what it changed.
  first = json.loads((tmp_path / "b" / "config.json").read_text())
  assert first["train"]["num_steps"] == 23
  assert any("config differs from" in line and "train.num_steps 23 -> 100" in line
             for line in logs)


def test_bad_config_key_is_named(tmp_path):
  task = ToyTask()
  config = task.schema()
  config.unlock()
  config.train.num_stepz = 3
  with pytest.raises(ValueError, match="unknown config key 'train.num_stepz'"):
    trainer.train_and_evaluate(task, config, str(tmp_path), log=lambda _: None)


def test_non_finite_loss_names_the_step(tmp_path):
  task = ToyTask()
  config = task.schema()
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 1e6  # diverges
  with pytest.raises(FloatingPointError, match="non-finite loss .* at step"):
    trainer.train_and_evaluate(task, config, str(tmp_path), log=lambda _: None)


def _write_checkpoint(workdir, meta_of):
  """A toy-task checkpoint in ``workdir`` whose saved meta is ``meta_of(config, data)``."""
  from seqjax.train import checkpoint  # pylint: disable=g-import-not-at-top
  task = ToyTask()
  config = task.schema()
  data = task.data(config, None)
  model = task.model(config, data.meta, data)
  optimizer = task.optimizer(config, data.steps_per_epoch, 10)
  state = trainer.state_initializer(task, config, model, optimizer, data.meta, 16)()
  ckpt = checkpoint.Checkpointer(str(workdir))
  ckpt.save(1, state, data.train.get_state(), meta_of(config, data), best=True)
  ckpt.close()
  return task


def test_restore_refuses_a_checkpoint_without_its_schedule_record(tmp_path):
  """A checkpoint written before the one trainer has no schedule lengths to rebuild the run's
  optimizer from: ``restore`` says so in one line instead of guessing a structure."""
  task = _write_checkpoint(
      tmp_path, lambda config, data: {**data.meta, "config": config.to_json()})
  with pytest.raises(ValueError, match="has no schedule record; it was written by an older"):
    trainer.restore(task, str(tmp_path))


def test_restore_refuses_a_checkpoint_whose_config_lacks_todays_keys(tmp_path):
  """A checkpoint whose saved config predates a key the task now has (a renamed or moved config
  section) cannot rebuild today's model: ``restore`` names the missing keys."""

  def old_meta(config, data):
    old = config.to_dict()
    del old["train"]["log_every"]
    schedule = {"steps_per_epoch": data.steps_per_epoch, "num_steps": 10}
    return {**data.meta, "schedule": schedule, "config": json.dumps(old)}

  task = _write_checkpoint(tmp_path, old_meta)
  with pytest.raises(ValueError, match=r"lacks \['train.log_every'\] of today's toy config"):
    trainer.restore(task, str(tmp_path))
