"""Length masks and their broadcasting, written once (floor 1: pure JAX).

A sequence of length ``n`` is valid at steps ``t < n``. Every model, recurrence back end and
attention reads its masks from here:

>>> import jax.numpy as jnp
>>> length_mask(jnp.array([3, 1]), 4).astype(int)
Array([[1, 1, 1, 0],
       [1, 0, 0, 0]], dtype=int32)
>>> length_mask(jnp.array([3, 1]), 4, time_major=True).shape
(4, 2)
>>> x = jnp.ones((2, 4, 5))
>>> select(length_mask(jnp.array([3, 1]), 4), x, 0.0).sum(axis=(1, 2))
Array([15.,  5.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def length_mask(lengths: jax.Array, T: int, *, time_major: bool = False) -> jax.Array:
  """``lengths [*B] -> [*B, T]`` bool, True at ``t < length`` (``[T, *B]`` when
  ``time_major``)."""
  lengths = jnp.asarray(lengths)
  if time_major:
    return jnp.reshape(jnp.arange(T), (T,) + (1,) * lengths.ndim) < lengths[None]
  return jnp.reshape(jnp.arange(T), (1,) * lengths.ndim + (T,)) < lengths[..., None]


def expand(mask: jax.Array, x: jax.Array) -> jax.Array:
  """``mask`` with trailing axes of size 1 added up to ``x``'s rank (``[B, T]`` against
  ``[B, T, D]``: ``[B, T, 1]``), so it broadcasts against ``x``."""
  return jnp.reshape(mask, mask.shape + (1,) * (x.ndim - mask.ndim))


def select(mask: jax.Array, x: jax.Array, other: Any) -> jax.Array:
  """``x`` where ``mask`` (broadcast over ``x``'s trailing axes), else ``other``."""
  return jnp.where(expand(mask, x), x, other)


def apply(mask: jax.Array, x: jax.Array) -> jax.Array:
  """``x`` zeroed where ``mask`` is False, by multiplication in ``x``'s dtype (gradients flow to
  the valid entries only)."""
  return x * expand(mask, x).astype(x.dtype)
