"""Language-model train and eval steps over truncated-BPTT windows (``seqjax.data.lm``).

Loss scale (``loss_reduction``):

- ``"sum_time_mean_batch"``: the sum over the window's time steps of the batch-mean token
  cross-entropy, as in Zaremba et al. and the TF PTB tutorial (``sequence_loss`` summed over
  time, averaged over the batch). Their learning rate of 1.0 assumes this scale.
- ``"mean"``: the mean over all tokens (what Adam-style configs usually assume).

Either way the reported ``loss`` is the mean token negative log-likelihood in nats, so
perplexity is ``exp(loss)`` and bits per character ``loss / ln 2``.

The carry of window ``k`` (with the gradient stopped) is the initial state of window ``k+1``;
it is reset to zeros when a batch has ``reset`` (the first window of every epoch).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from seqjax.nn import lm as lm_nn
from seqjax.train.state import TrainState

REDUCTIONS = ("sum_time_mean_batch", "mean")


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """``[B, T, V], [B, T] -> [B, T]`` cross-entropy in float32 (computed on ``[B*T, V]``: the
  3-D form's gradient costs XLA:CPU a transpose of the whole ``[B, T, V]`` array)."""
  flat = jnp.reshape(logits.astype(jnp.float32), (-1, logits.shape[-1]))
  nll = optax.softmax_cross_entropy_with_integer_labels(flat, jnp.reshape(targets, (-1,)))
  return jnp.reshape(nll, targets.shape)


def _reset(carry: Any, reset: jax.Array) -> Any:
  return jax.tree.map(lambda c: jnp.where(reset, jnp.zeros_like(c), c), carry)


def make_train_step(model: lm_nn.RNNLM, optimizer: optax.GradientTransformation,
                    loss_reduction: str = "sum_time_mean_batch") -> Callable:
  """``train_step(state, batch) -> (state, metrics)``; jit it with ``donate_argnums=0``."""
  if loss_reduction not in REDUCTIONS:
    raise ValueError(f"train.loss_reduction must be one of {list(REDUCTIONS)}; "
                     f"got {loss_reduction!r}")

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    carry = _reset(state.carry, batch["reset"])
    key = jax.random.fold_in(state.key, state.step)
    mask = batch["mask"]

    def loss_fn(params):
      logits, new_carry = model.apply({"params": params}, batch["inputs"], carry,
                                      deterministic=False, rngs={"dropout": key})
      nll = token_nll(logits, batch["targets"]) * mask
      total, count = jnp.sum(nll), jnp.sum(mask)
      if loss_reduction == "sum_time_mean_batch":
        objective = total / mask.shape[0]
      else:
        objective = total / count
      return objective, (new_carry, total, count)

    grads, (new_carry, total, count) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              carry=jax.lax.stop_gradient(new_carry))
    metrics = {"loss": total / count, "grad_norm": optax.tree.norm(grads)}
    return new_state, metrics

  return train_step


def make_eval_step(model: lm_nn.RNNLM) -> Callable:
  """``eval_step(params, carry, batch) -> (carry, nll_sum, count)``; jit it."""

  def eval_step(params, carry, batch):
    logits, carry = model.apply({"params": params}, batch["inputs"], carry)
    nll = token_nll(logits, batch["targets"]) * batch["mask"]
    return carry, jnp.sum(nll), jnp.sum(batch["mask"])

  return eval_step


def evaluate(eval_step: Callable, model: lm_nn.RNNLM, params: Any, stream,
             place: Callable[[dict, Any], tuple[dict, Any]] | None = None) -> dict[str, float]:
  """Mean token NLL over a whole split, the carry threaded from window to window.

  ``place(batch, carry) -> (batch, carry)`` puts them on the devices (``seqjax.parallel``);
  by default JAX places them.
  """
  carry = lm_nn.initial_carry(model, params, stream.batch_size)
  total, count = 0.0, 0.0
  for batch in stream.epoch_batches():
    batch = {k: v for k, v in batch.items() if k != "reset"}
    if place is not None:
      batch, carry = place(batch, carry)
    carry, nll, n = eval_step(params, carry, batch)
    total, count = total + nll, count + n
  total, count = float(total), float(count)
  return {"loss": total / count, "tokens": count}
