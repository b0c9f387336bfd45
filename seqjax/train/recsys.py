"""GRU4Rec train and eval steps over ``seqjax.data.sessions.SessionParallel`` blocks.

Losses (cross-entropy of the target among candidates, averaged over real steps, ``weights``):

- ``full``: every item is a candidate (a softmax over the catalogue).
- ``in_batch``: at each step the candidates are the targets of all lanes at that step
  (GRU4Rec's mini-batch negatives); a lane's own target is the positive.
- ``sampled``: the in-batch candidates plus ``num_samples`` items drawn, shared by the whole
  block, from training popularity^``alpha`` (Hidasi & Karatzoglou 2018's additional samples).

A candidate equal to the positive item (another lane with the same target, a sample that hits
it) or belonging to a padding lane is masked out. The recurrent carry flows from block to block
in ``TrainState.carry`` (gradients stop at block boundaries) and is zeroed by the blocks'
``resets`` where sessions start.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from seqjax.recommend import target_ranks
from seqjax.train.state import TrainState

LOSSES = ("full", "in_batch", "sampled")


def candidate_logits(params: Any, hidden: jax.Array, targets: jax.Array, weights: jax.Array,
                     loss: str, samples: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """``(logits [B, T, C], labels [B, T])`` of ``loss`` (module docstring), masked entries at
  ``-1e9``."""
  w, b = params["output_items"], params["output_bias"]
  if loss == "full":
    return hidden @ w.T + b[None, None], targets
  if loss not in LOSSES:
    raise ValueError(f"train.loss must be one of {list(LOSSES)}; got {loss!r}")
  n = targets.shape[0]
  logits = jnp.einsum("bth,cth->btc", hidden, w[targets]) + b[targets].T[None]
  same = targets[:, :, None] == targets.T[None]  # [B, T, C]: candidate c holds b's target
  mine = jnp.eye(n, dtype=bool)[:, None, :]
  invalid = (same & ~mine) | (weights.T[None] == 0) & ~mine
  logits = jnp.where(invalid, -1e9, logits)
  if loss == "sampled":
    extra = hidden @ w[samples].T + b[samples][None, None]
    extra = jnp.where(samples[None, None, :] == targets[:, :, None], -1e9, extra)
    logits = jnp.concatenate([logits, extra], axis=-1)
  return logits, jnp.broadcast_to(jnp.arange(n)[:, None], targets.shape)


def make_train_step(model: nn.Module, optimizer: optax.GradientTransformation, loss: str, *,
                    noise_table: np.ndarray | None = None, num_samples: int = 0) -> Callable:
  """``train_step(state, batch) -> (state, metrics)``; jit it with ``donate_argnums=0``."""
  table = None if noise_table is None else jnp.asarray(noise_table)

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    key = jax.random.fold_in(state.key, state.step)
    drop_key, sample_key = jax.random.split(key)
    weights = batch["weights"]
    count = jnp.maximum(jnp.sum(weights), 1.0)
    samples = None
    if loss == "sampled":
      samples = table[jax.random.randint(sample_key, (num_samples,), 0, table.shape[0])]

    def loss_fn(params):
      hidden, carry = model.apply({"params": params}, batch["inputs"], batch["resets"],
                                  state.carry, deterministic=False, rngs={"dropout": drop_key})
      logits, labels = candidate_logits(params, hidden, batch["targets"], weights, loss, samples)
      ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
      return jnp.sum(ce * weights) / count, carry

    (value, carry), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"loss": value, "grad_norm": optax.tree.norm(grads), "events": jnp.sum(weights)}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                         carry=jax.lax.stop_gradient(carry)), metrics

  return train_step


def make_eval_step(model: nn.Module) -> Callable:
  """``eval_step(params, batch, carry) -> (ranks [B, T] among all items, carry)``; jit it."""

  def eval_step(params, batch, carry):
    hidden, carry = model.apply({"params": params}, batch["inputs"], batch["resets"], carry)
    scores = model.apply({"params": params}, hidden, method="scores")
    return target_ranks(scores, batch["targets"]), carry

  return eval_step


def ranks(eval_step: Callable, params: Any, batches: Iterable[dict], carry: Any) -> np.ndarray:
  """The rank of every real step's target over one pass of ``batches``."""
  out = []
  for batch in batches:
    r, carry = eval_step(params, {k: v for k, v in batch.items() if k != "epoch"}, carry)
    out.append(np.asarray(r)[batch["weights"] > 0])
  return np.concatenate(out)
