r"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that read only the
input, so the recurrence is linear in ``h`` and a whole sequence can be computed with a
parallel (associative) scan in O(log T) depth; step by step for generation.

Equations (row vectors, ``x_t: [*B, I]``, ``h_t: [*B, H]``)::

    minGRU:   z_t = σ(x_t W_z + b_z)          h̃_t = x_t W_h + b_h
              h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t
    minLSTM:  f_t = σ(x_t W_f + b_f)   i_t = σ(x_t W_i + b_i)   h̃_t = x_t W_h + b_h
              f'_t = f_t / (f_t + i_t)   i'_t = i_t / (f_t + i_t)     (length independence)
              h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

Both are ``h_t = a_t ⊙ h_{t-1} + b_t`` with ``(a_t, b_t)`` from the input alone
(``coefficients``), which ``seqjax.recurrence.unroll(..., backend="associative")`` scans with
``jax.lax.associative_scan``. The fused input matrix is ``W = [W_z | W_h]: [I, 2H]`` (minGRU)
or ``[W_f | W_i | W_h]: [I, 3H]`` (minLSTM). The coefficients and the state are float32 even
for bf16 parameters. The carry is ``MinCarry(h)``; the output is ``h_t``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seqjax.cells import base
from seqjax.cells import initializers as inits


class MinCarry(NamedTuple):
  h: jax.Array  # [*B, H]


@base.params_dataclass
class MinParams:
  w: jax.Array  # [I, G*H]: G = 2 (minGRU) or 3 (minLSTM)
  b: jax.Array  # [G*H]
  kind: str = base.static("mingru")


_OPTIONS = ("dtype", "input_init", "bias_init")
GATES = {"mingru": 2, "minlstm": 3}


def _init(kind: str, key: jax.Array, input_size: int, hidden_size: int, *,
          dtype: Any = jnp.float32, input_init: Any = "glorot_uniform", bias_init: Any = "zeros",
          **unknown: Any) -> MinParams:
  where = f"{kind}.init"
  base.check_unknown_options(where, unknown, _OPTIONS)
  base.check_sizes(where, input_size=input_size, hidden_size=hidden_size)
  gates = GATES[kind]
  k_w, k_b = jax.random.split(key)
  w = inits.resolve(where, "input_init", input_init)(k_w, (input_size, gates * hidden_size), dtype,
                                                      hidden_size=hidden_size, gates=gates)
  b = inits.make_bias(where, bias_init, k_b, gates * hidden_size, dtype, hidden_size=hidden_size)
  return MinParams(w=w, b=b, kind=kind)


def input_size(params: MinParams) -> int:
  return params.w.shape[0]


def hidden_size(params: MinParams) -> int:
  return params.w.shape[1] // GATES[params.kind]


def output_size(params: MinParams) -> int:
  return hidden_size(params)


def initial_carry(params: MinParams, batch_shape: Any) -> MinCarry:
  shape = base.normalize_batch_shape(batch_shape) + (hidden_size(params),)
  return MinCarry(h=jnp.zeros(shape, base.carry_dtype(params.w.dtype)))


def project(params: MinParams, xs: jax.Array) -> jax.Array:
  """``xs W + b`` for every position at once: ``[..., I] -> [..., G*H]``."""
  return base.affine(f"{params.kind}.project", xs, params.w, params.b)


def coefficients(params: MinParams, projected: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(a, b)`` with ``h_t = a_t ⊙ h_{t-1} + b_t``, float32, from ``project``'s output."""
  projected = projected.astype(jnp.float32)
  if params.kind == "mingru":
    z_pre, h_tilde = jnp.split(projected, 2, axis=-1)
    z = jax.nn.sigmoid(z_pre)
    return 1.0 - z, z * h_tilde
  f_pre, i_pre, h_tilde = jnp.split(projected, 3, axis=-1)
  # f / (f + i) = σ(f_pre) / (σ(f_pre) + σ(i_pre)), computed in log space for stability.
  log_f, log_i = jax.nn.log_sigmoid(f_pre), jax.nn.log_sigmoid(i_pre)
  log_total = jnp.logaddexp(log_f, log_i)
  return jnp.exp(log_f - log_total), jnp.exp(log_i - log_total) * h_tilde


def step(params: MinParams, carry: MinCarry, projected_t: jax.Array) -> tuple[MinCarry, jax.Array]:
  """One step of the equations above (generation, or the sequential scan)."""
  a, b = coefficients(params, projected_t)
  h = a * carry.h + b
  return MinCarry(h=h), h


def state(carry: MinCarry) -> jax.Array:
  """The linear state of the carry (what the parallel scan runs over)."""
  return carry.h


def from_state(params: MinParams, h: jax.Array) -> MinCarry:
  return MinCarry(h=h)


def readout(params: MinParams, hs: jax.Array, projected: jax.Array) -> jax.Array:
  """The outputs of states ``hs`` (the states themselves)."""
  del params, projected
  return hs


def _record(kind: str) -> base.Cell:
  return base.Cell(
      name=kind, init=lambda key, input_size_, hidden_size_, **options: _init(
          kind, key, input_size_, hidden_size_, **options),
      initial_carry=initial_carry, project=project, step=step, input_size=input_size,
      hidden_size=hidden_size, output_size=output_size,
      linear=base.LinearForm(coefficients=coefficients, state=state, from_state=from_state,
                             readout=readout))


MINGRU = _record("mingru")
MINLSTM = _record("minlstm")
