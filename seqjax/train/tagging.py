"""Tagging train and eval steps over ``seqjax.data.tagging`` batches.

The loss is the mean softmax cross-entropy over the batch's real words: each word weighs
``mask[b, t]`` (1 inside a real sentence, 0 at padding and in filler rows), so padding never
enters the loss or a metric. Evaluation sums over a whole split: ``loss`` (mean NLL per word),
``accuracy`` (per word), ``oov_accuracy`` (on words absent from the training data),
``sentence_accuracy`` (every word right) and ``confusion[true][predicted]`` (counts).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from seqjax.train.state import TrainState


def _apply(model: nn.Module, params: Any, batch: dict, **kwargs: Any) -> jax.Array:
  return model.apply({"params": params}, batch["tokens"], batch["lengths"], batch.get("chars"),
                     batch.get("char_lengths"), **kwargs)


def token_nll(logits: jax.Array, tags: jax.Array) -> jax.Array:
  """``[B, T, K], [B, T] -> [B, T]`` cross-entropy in float32."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), tags)


def make_train_step(model: nn.Module, optimizer: optax.GradientTransformation) -> Callable:
  """``train_step(state, batch) -> (state, metrics)``; jit it with ``donate_argnums=0``."""

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    key = jax.random.fold_in(state.key, state.step)
    mask = batch["mask"]
    count = jnp.maximum(jnp.sum(mask), 1.0)

    def loss_fn(params):
      logits = _apply(model, params, batch, deterministic=False, rngs={"dropout": key})
      return jnp.sum(token_nll(logits, batch["tags"]) * mask) / count, logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    correct = jnp.sum((jnp.argmax(logits, -1) == batch["tags"]) * mask)
    metrics = {"loss": loss, "accuracy": correct / count, "grad_norm": optax.tree.norm(grads)}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


def make_eval_step(model: nn.Module, num_tags: int) -> Callable:
  """``eval_step(params, batch) -> sums`` (``nll``, ``words``, ``correct``, ``oov``,
  ``oov_correct``, ``sentences``, ``sentences_correct``, ``confusion [K, K]``); jit it."""

  def eval_step(params, batch):
    logits = _apply(model, params, batch)
    mask, tags = batch["mask"], batch["tags"]
    predicted = jnp.argmax(logits, -1)
    right = (predicted == tags) * mask
    oov = batch["unknown"] * mask
    wrong_words = jnp.sum(mask - right, axis=1)
    onehot = jax.nn.one_hot(tags, num_tags) * mask[..., None]
    confusion = jnp.einsum("btk,btj->kj", onehot, jax.nn.one_hot(predicted, num_tags))
    return {"nll": jnp.sum(token_nll(logits, tags) * mask), "words": jnp.sum(mask),
            "correct": jnp.sum(right), "oov": jnp.sum(oov), "oov_correct": jnp.sum(right * oov),
            "sentences": jnp.sum(batch["weights"]),
            "sentences_correct": jnp.sum((wrong_words == 0) * batch["weights"]),
            "confusion": confusion}

  return eval_step


def evaluate(eval_step: Callable, params: Any, batches: Iterable[dict],
             place: Callable[[dict], dict] | None = None) -> dict[str, Any]:
  """Word-level scores over every batch of a split (see the module docstring)."""
  totals: dict[str, Any] = {}
  for batch in batches:
    batch = {k: v for k, v in batch.items() if k != "epoch"}
    sums = jax.device_get(eval_step(params, place(batch) if place is not None else batch))
    for k, v in sums.items():
      totals[k] = totals.get(k, 0) + np.asarray(v, np.float64)
  words = float(totals.get("words", 0))
  if words == 0:
    raise ValueError("evaluate: the split has no words")
  oov = float(totals["oov"])
  return {"loss": float(totals["nll"]) / words, "accuracy": float(totals["correct"]) / words,
          "oov_accuracy": float(totals["oov_correct"]) / oov if oov else float("nan"),
          "sentence_accuracy": float(totals["sentences_correct"]) / float(totals["sentences"]),
          "words": int(words), "oov_words": int(oov),
          "confusion": totals["confusion"].astype(int).tolist()}


def predict(model: nn.Module, params: Any, batch: dict) -> np.ndarray:
  """Predicted tag ids ``[B, T]`` of one padded batch."""
  return np.asarray(jnp.argmax(_apply(model, params, batch), -1))
