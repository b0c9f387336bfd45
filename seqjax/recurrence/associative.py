"""The ``Backend.ASSOCIATIVE`` back end: ``lax.associative_scan`` over a linear cell's
``h_t = a_t ⊙ h_{t-1} + b_t`` (the record's ``linear`` form), O(log T) depth.

Resets fold into the coefficients (entering a reset step the state is ``h0`` again:
``a_t = 0``, ``b_t = a_t h0 + b_t``) and padded steps are the identity (``a = 1``, ``b = 0``),
so lengths, resets and reverse agree with the sequential scan.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
from jax import lax

from seqjax import masks


def combine(earlier: tuple[jax.Array, jax.Array],
            later: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
  """Composes ``h -> a1 h + b1`` then ``h -> a2 h + b2``: ``(a2 a1, a2 b1 + b2)``."""
  a1, b1 = earlier
  a2, b2 = later
  return a2 * a1, a2 * b1 + b2


def run(linear: Any, params: Any, projected: jax.Array, carry: Any,
        valid: Optional[jax.Array], resets: Optional[jax.Array],
        reverse: bool) -> tuple[jax.Array, Any]:
  """``(ys [T, *B, O], final carry)``; ``projected: [T, *B, G]`` time-major; ``valid`` and
  ``resets`` ``[T, *B]`` (resets already shifted for ``reverse``)."""
  T = projected.shape[0]
  a, b = linear.coefficients(params, projected)  # [T, *B, N]
  h0 = linear.state(carry)
  if resets is not None:  # entering step t the state is h0 again: h_t = a_t h0 + b_t
    r = masks.expand(resets, a)
    b = jnp.where(r, a * h0[None] + b, b)
    a = jnp.where(r, jnp.zeros_like(a), a)
  if valid is not None:  # padded steps are the identity
    v = masks.expand(valid, a)
    a = jnp.where(v, a, jnp.ones_like(a))
    b = jnp.where(v, b, jnp.zeros_like(b))
  first = T - 1 if reverse else 0  # fold the initial state into the first step processed
  b = b.at[first].set(a[first] * h0 + b[first])
  _, hs = lax.associative_scan(combine, (a, b), axis=0, reverse=reverse)
  ys = linear.readout(params, hs, projected)
  if valid is not None:
    ys = masks.select(valid, ys, jnp.zeros_like(ys))
  final = linear.from_state(params, hs[0] if reverse else hs[-1])
  final = jax.tree.map(lambda f, c: f.astype(c.dtype), final, carry)
  return ys, final
