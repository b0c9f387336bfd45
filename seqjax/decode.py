"""Decoding from autoregressive models: greedy and temperature / top-k sampling.

A model is given as ``step_fn(carry, tokens) -> (logits, carry)`` with ``tokens: [B]`` and
``logits: [B, V]``. Decoding runs under ``lax.scan`` for a fixed number of steps, so it is
jittable (jit at the call site).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from jax import lax


def filter_top_k(logits: jax.Array, top_k: int) -> jax.Array:
  """Keeps the ``top_k`` largest logits of each row; the rest become ``-inf``."""
  if top_k <= 0 or top_k >= logits.shape[-1]:
    return logits
  kth = lax.top_k(logits, top_k)[0][..., -1:]
  return jnp.where(logits < kth, -jnp.inf, logits)


def sample(step_fn: Callable[[Any, jax.Array], tuple[jax.Array, Any]], carry: Any,
           first: jax.Array, num_steps: int, *, key: jax.Array, temperature: float = 1.0,
           top_k: int = 0) -> tuple[jax.Array, Any]:
  """Generates ``num_steps`` tokens after ``first: [B]``; returns ``([B, num_steps], carry)``.

  ``temperature == 0`` is greedy decoding (argmax); otherwise tokens are drawn from
  ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely (0: all).
  """
  if temperature < 0:
    raise ValueError(f"sample: temperature must be >= 0; got {temperature}")

  def body(state, step_key):
    carry, token = state
    logits, carry = step_fn(carry, token)
    if temperature == 0:
      token = jnp.argmax(logits, axis=-1).astype(first.dtype)
    else:
      logits = filter_top_k(logits.astype(jnp.float32) / temperature, top_k)
      token = jax.random.categorical(step_key, logits, axis=-1).astype(first.dtype)
    return (carry, token), token

  (carry, _), tokens = lax.scan(body, (carry, first), jax.random.split(key, num_steps))
  return jnp.moveaxis(tokens, 0, -1), carry


def greedy(step_fn: Callable, carry: Any, first: jax.Array,
           num_steps: int) -> tuple[jax.Array, Any]:
  return sample(step_fn, carry, first, num_steps, key=jax.random.PRNGKey(0), temperature=0.0)
