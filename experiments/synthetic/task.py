"""The synthetic task: long-dependency problems generated on the fly.

The adding problem (regression from the last step; metric MSE, baseline 1/6) and the copy-memory
task (a prediction at every step; metric: accuracy on the recalled symbols, chance 1/k). Data
is generated from ``(seed, step)``; evaluation uses batches from a seed training never sees.
With ``train.diagnose_every`` the gradient norm ``‖∂L/∂h_t‖`` of the (single) recurrent layer is
logged at distances 0, 1/4, 1/2, 3/4 and all of T from the loss, next to the global gradient norm
before and after clipping.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.synthetic.configs import base
from seqjax import cells as cells_lib
from seqjax import diagnostics, parallel
from seqjax.data import synthetic
from seqjax.nn.readout import RNNReadout
from seqjax.nn.rnn import RNNSpec
from seqjax.train import optim
from seqjax.train.task import Data, Task

EVAL_SEED_OFFSET = 1_000_003
SOLVED_MSE = 0.01


def build_model(config: ml_collections.ConfigDict) -> RNNReadout:
  d, m = config.data, config.model
  copy = d.task == "copy"
  return RNNReadout(num_outputs=d.num_symbols + 1 if copy else 1,
                    rnn=RNNSpec.from_config(m.rnn), vocab_size=d.num_symbols + 2 if copy else 0,
                    readout="every" if copy else "last", encoder_size=m.encoder_size)


class SyntheticBatches:
  """Endless batches ``f(seed, step)``; the position is the step (checkpointable). With
  ``rows`` (a process's share, ``seqjax.parallel.process_rows``) only those rows of each global
  batch are yielded."""

  def __init__(self, config: ml_collections.ConfigDict, seed: int, rows: slice | None = None):
    self.config, self.seed, self.position, self.rows = config, seed, 0, rows

  def make(self, step: int) -> dict[str, np.ndarray]:
    d, b = self.config.data, self.config.train.batch_size
    if d.task == "adding":
      return synthetic.adding_batch(self.seed, step, b, d.length)
    return synthetic.copy_batch(self.seed, step, b, d.length, num_symbols=d.num_symbols,
                                copy_length=d.copy_length)

  def __iter__(self):
    while True:
      batch = self.make(self.position)
      if self.rows is not None:
        batch = {k: v[self.rows] for k, v in batch.items()}
      self.position += 1
      yield batch

  def get_state(self) -> dict[str, Any]:
    return {"position": self.position}

  def set_state(self, state: dict[str, Any]) -> None:
    self.position = int(state["position"])


def task_loss(config: ml_collections.ConfigDict, outputs: jax.Array,
              batch: dict) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The training loss and its task metric (``mse`` or ``recall_accuracy``)."""
  if config.data.task == "adding":
    mse = jnp.mean((outputs[:, 0] - batch["targets"]) ** 2)
    return mse, {"mse": mse}
  nll = optax.softmax_cross_entropy_with_integer_labels(outputs.astype(jnp.float32),
                                                        batch["targets"])
  mask = batch["recall_mask"]
  correct = (jnp.argmax(outputs, -1) == batch["targets"]) * mask
  return jnp.mean(nll), {"recall_accuracy": jnp.sum(correct) / jnp.sum(mask)}


def model_inputs(config: ml_collections.ConfigDict, batch: dict) -> jax.Array:
  return batch["inputs"] if config.data.task == "adding" else batch["tokens"]


def hidden_grad_curve(config: ml_collections.ConfigDict, params: Any,
                      batch: dict) -> jax.Array:
  """``‖∂L/∂h_t‖`` of the single recurrent layer for ``t = 0..T'-1``, averaged over the batch."""
  cell = cells_lib.get(config.model.rnn.cell)
  layer, dense = params["DeepRNN_0"]["layer_0"], params["Dense_0"]
  xs = model_inputs(config, batch)
  if config.data.task == "copy":
    xs = jax.nn.one_hot(xs, config.data.num_symbols + 2)

  def loss_fn(ys, final):
    del final
    if config.data.task == "adding":
      ys = ys[:, -1:]
    outputs = ys @ dense["kernel"] + dense["bias"].reshape((1,) * (ys.ndim - 1) + (-1,))
    if config.data.task == "adding":
      outputs = outputs[:, 0]
    return task_loss(config, outputs, batch)[0]

  return diagnostics.hidden_grad_norms(cell, layer, xs, loss_fn).mean(axis=0)


def make_diagnose(config: ml_collections.ConfigDict) -> Callable:
  """``diagnose(params, batch) -> {"dLdh_at_<distance>": ...}`` at distances 0, T/4, T/2,
  3T/4 and T-1 from the loss (batch means)."""
  T = config.data.length + (2 * config.data.copy_length if config.data.task == "copy" else 0)
  distances = sorted({0, T // 4, T // 2, (3 * T) // 4, T - 1})
  width = len(str(T))

  def diagnose(params, batch):
    norms = hidden_grad_curve(config, params, batch)
    return {f"dLdh_at_{d:0{width}d}": norms[T - 1 - d] for d in distances}

  return diagnose


def make_evaluate(config, model) -> Callable[[Any, list[dict]], dict[str, float]]:
  """``evaluate(params, batches)``: batch means of the loss and the task metric (jitted)."""

  @jax.jit
  def batch_metrics(params, batch):
    outputs = model.apply({"params": params}, model_inputs(config, batch))
    loss, metrics = task_loss(config, outputs, batch)
    return {"loss": loss, **metrics}

  def evaluate(params, batches: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for batch in batches:
      for k, v in batch_metrics(params, batch).items():
        totals[k] = totals.get(k, 0.0) + float(v) / len(batches)
    if config.data.task == "adding":
      totals["solved"] = float(totals["mse"] < SOLVED_MSE)
    return totals

  return evaluate


class SyntheticTask(Task):
  name = "synthetic"
  base_config = base
  rnn_sections = ("model.rnn",)

  def best_metric(self, config):
    return ("mse", "min") if config.data.task == "adding" else ("recall_accuracy", "max")

  def validate(self, config):
    d, m, t = config.data, config.model, config.train
    if t.num_steps < 1:
      raise ValueError(f"train.num_steps must be > 0 (the data is endless); got {t.num_steps}")
    if d.task == "adding" and d.length < 2:
      raise ValueError(f"data.length must be >= 2 for the adding problem; got {d.length}")
    r = m.rnn
    if t.diagnose_every and (r.num_layers != 1 or r.bidirectional or r.cell == "lru"
                             or m.encoder_size):
      raise ValueError("train.diagnose_every needs model.rnn.num_layers=1, one direction, no "
                       "model.encoder_size and a cell whose state is its output h (not lru)")

  def data(self, config, meta):
    d, t = config.data, config.train
    batches = SyntheticBatches(config, config.seed, rows=parallel.process_rows(t.batch_size))
    held_out = SyntheticBatches(config, config.seed + EVAL_SEED_OFFSET)
    baseline = (f"MSE baseline {synthetic.ADDING_BASELINE_MSE:.3f}" if d.task == "adding" else
                f"loss baseline "
                f"{synthetic.copy_baseline_loss(d.length, d.num_symbols, d.copy_length):.4f}, "
                f"chance accuracy {1 / d.num_symbols:.3f}")
    return Data(train=batches, evals={}, meta={}, steps_per_epoch=t.num_steps,
                example=batches.make(0), summary=f"{d.task} T={d.length}: {baseline}",
                extra={"eval_data": [held_out.make(i) for i in range(t.eval_batches)]})

  def model(self, config, meta, data=None):
    return build_model(config)

  def init_params(self, model, key, config, meta):
    sample = SyntheticBatches(config, config.seed).make(0)
    return model.init(key, model_inputs(config, sample))["params"]

  def optimizer(self, config, steps_per_epoch, num_steps):
    return optim.make_optimizer(config.optimizer, num_steps, num_steps)

  def describe(self, config, model):
    r = config.model.rnn
    return f"{r.cell} {r.num_layers}x{r.hidden_size}"

  def loss(self, model, params, batch, *, key, carry, config):
    outputs = model.apply({"params": params}, model_inputs(config, batch))
    loss, metrics = task_loss(config, outputs, batch)
    return loss, {"loss": loss, **metrics}, None

  def wrap_step(self, run, train_step):
    """With ``train.diagnose_every``: the ``dLdh_at_*`` gradient norms every so many steps."""
    every = run.config.train.diagnose_every
    if not every:
      return train_step
    diagnose = jax.jit(make_diagnose(run.config))

    def step(state, batch):
      at = int(state.step)
      new_state, metrics = train_step(state, batch)
      if (at + 1) % every == 0:
        metrics = {**metrics, **diagnose(new_state.params, batch)}
      return new_state, metrics

    return step

  def evaluate(self, run, params, split):
    if "evaluate" not in run.data.extra:
      run.data.extra["evaluate"] = make_evaluate(run.config, run.model)
    return run.data.extra["evaluate"](params, run.data.extra["eval_data"])

  def restore_best(self, run):
    return False

  def final_splits(self, run):
    return []

  def report(self, run, state, result):
    result["best"] = run.summary["best"]
    result["final"] = self.evaluate(run, state.params, "held_out")


TASK = SyntheticTask()
