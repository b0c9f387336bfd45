"""Classification train and eval steps over ``seqjax.data.classify`` batches.

The loss is the mean softmax cross-entropy over the batch's real rows (``weights`` 1; filler
rows have weight 0). Evaluation sums over a whole split: ``loss`` (mean NLL), ``accuracy`` and
the confusion matrix ``confusion[true][predicted]`` (counts).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from seqjax.train.state import TrainState


def example_nll(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """``[B, C], [B] -> [B]`` cross-entropy in float32."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)


def make_train_step(model: nn.Module, optimizer: optax.GradientTransformation) -> Callable:
  """``train_step(state, batch) -> (state, metrics)``; jit it with ``donate_argnums=0``."""

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    key = jax.random.fold_in(state.key, state.step)
    weights = batch["weights"]
    count = jnp.maximum(jnp.sum(weights), 1.0)

    def loss_fn(params):
      logits = model.apply({"params": params}, batch["tokens"], batch["lengths"],
                           deterministic=False, rngs={"dropout": key})
      loss = jnp.sum(example_nll(logits, batch["labels"]) * weights) / count
      return loss, logits

    grads, logits = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    correct = jnp.sum((jnp.argmax(logits, -1) == batch["labels"]) * weights)
    loss = jnp.sum(example_nll(logits, batch["labels"]) * weights) / count
    metrics = {"loss": loss, "accuracy": correct / count, "grad_norm": optax.tree.norm(grads)}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


def make_eval_step(model: nn.Module, num_classes: int) -> Callable:
  """``eval_step(params, batch) -> (nll_sum, confusion [C, C], count)``; jit it."""

  def eval_step(params, batch):
    logits = model.apply({"params": params}, batch["tokens"], batch["lengths"])
    weights = batch["weights"]
    nll = jnp.sum(example_nll(logits, batch["labels"]) * weights)
    predicted = jnp.argmax(logits, -1)
    onehot = (jax.nn.one_hot(batch["labels"], num_classes) * weights[:, None])
    confusion = onehot.T @ jax.nn.one_hot(predicted, num_classes)
    return nll, confusion, jnp.sum(weights)

  return eval_step


def evaluate(eval_step: Callable, params: Any, batches: Iterable[dict],
             num_classes: int, place: Callable[[dict], dict] | None = None) -> dict[str, Any]:
  """``{"loss", "accuracy", "count", "confusion"}`` over every batch of a split; ``place``
  puts each batch on the devices (``seqjax.parallel``), by default JAX does."""
  total, count = 0.0, 0.0
  confusion = np.zeros((num_classes, num_classes))
  for batch in batches:
    batch = {k: v for k, v in batch.items() if k != "epoch"}
    nll, conf, n = eval_step(params, place(batch) if place is not None else batch)
    total, count, confusion = total + nll, count + n, confusion + np.asarray(conf)
  count = float(count)
  if count == 0:
    raise ValueError("evaluate: the split has no examples")
  return {"loss": float(total) / count, "accuracy": float(np.trace(confusion)) / count,
          "count": count, "confusion": confusion.astype(int).tolist()}


def predict(model: nn.Module, params: Any, batch: dict) -> tuple[np.ndarray, np.ndarray]:
  """``(predicted class [B], class probabilities [B, C])`` of one padded batch."""
  logits = model.apply({"params": params}, batch["tokens"], batch["lengths"])
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return np.asarray(jnp.argmax(logits, -1)), np.asarray(probs)
