"""The ``Backend.SCAN`` back end: autodiff through ``lax.scan``, with every option.

Time-major inside: ``projected [T, *B, G]``; ``valid`` and ``resets`` ``[T, *B]`` (resets already
shifted for ``reverse``). Padded steps keep the carry and emit zeros; a reset step starts from
``start`` (the initial carry) again. Per-step regularisers arrive as a wrapped step
(``seqjax.recurrence.regularizers``), so the loop body is the same for all of them.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
from jax import lax

from seqjax import masks


def where_valid(valid: jax.Array, new: Any, old: Any) -> Any:
  """``new`` where ``valid`` (per batch entry), else ``old``, for every leaf of a carry."""
  return jax.tree.map(lambda n, o: masks.select(valid, n, o), new, old)


def run(step: Any, projected: jax.Array, carry: Any, *, lengths: Optional[jax.Array],
        resets: Optional[jax.Array], step_keys: jax.Array, perturb: Optional[jax.Array],
        reverse: bool, unroll: int) -> tuple[jax.Array, Any]:
  """``(ys [T, *B, O], final carry)`` of ``step(carry, x_t) -> (carry, y_t)`` over time."""
  T = projected.shape[0]
  start = carry
  placeholder = jnp.zeros((T,), jnp.float32)  # scanned where an input is off; never read

  def body(c, inputs):
    p_t, t, r_t, k_t, e_t = inputs
    if resets is not None:
      c = where_valid(r_t, start, c)
    new_c, y = step(c, {"p": p_t, "key": k_t, "perturb": e_t})
    if lengths is not None:
      valid = t < lengths
      new_c = where_valid(valid, new_c, c)
      y = where_valid(valid, y, jnp.zeros_like(y))
    return new_c, y

  xs = (projected, jnp.arange(T), resets if resets is not None else jnp.zeros((T,), bool),
        step_keys, placeholder if perturb is None else perturb)
  final, ys = lax.scan(body, carry, xs, reverse=reverse, unroll=unroll)
  return ys, final
