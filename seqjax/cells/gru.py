r"""GRU: the original form of Cho et al. (2014) and the reset-after form of cuDNN/PyTorch/Keras.

Gate order in the fused matrices is PyTorch's ``(r, z, n)``. Equations (row vectors)::

    r_t = σ(x_t W_ir + h_{t-1} W_hr + b_r)
    z_t = σ(x_t W_iz + h_{t-1} W_hz + b_z)
    reset_after=False (Cho et al. 2014):
        n_t = tanh(x_t W_in + (r_t ⊙ h_{t-1}) W_hn + b_n)
    reset_after=True (cuDNN, PyTorch nn.GRU, Keras, Flax GRUCell):
        n_t = tanh(x_t W_in + b_n + r_t ⊙ (h_{t-1} W_hn + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Shapes: ``x_t: [*B, I]``, ``h_t: [*B, H]``, ``W_ih = [W_ir | W_iz | W_in]: [I, 3H]``,
``W_hh = [W_hr | W_hz | W_hn]: [H, 3H]``, ``b = [b_r | b_z | b_n]: [3H]`` and, for the
reset-after form only, ``b_hn: [H]`` (it sits inside the reset, so it cannot be folded into
``b``). The carry is ``GRUCarry(h)``; the output is ``h_t``.

The Cho form needs the reset gate before the candidate's recurrent matmul, so it does two
dependent matmuls per step (``[H, 2H]`` then ``[H, H]``); the reset-after form does one.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from seqjax.cells import base
from seqjax.cells import initializers as inits
from seqjax.recurrence import fused, onednn


class GRUCarry(NamedTuple):
  h: jax.Array  # [*B, H]


@base.params_dataclass
class GRUParams:
  w_ih: jax.Array  # [I, 3H]
  w_hh: jax.Array  # [H, 3H]
  b: jax.Array  # [3H]
  b_hn: Optional[jax.Array] = None  # [H], reset-after form only

  @property
  def reset_after(self) -> bool:
    return self.b_hn is not None


_OPTIONS = ("dtype", "reset_after", "input_init", "recurrent_init", "bias_init")


def init(key: jax.Array, input_size: int, hidden_size: int, *, dtype: Any = jnp.float32,
         reset_after: bool = True, input_init: Any = "uniform", recurrent_init: Any = "uniform",
         bias_init: Any = "uniform", **unknown: Any) -> GRUParams:
  """Initialises a GRU.

  ``reset_after=True`` (default) is the cuDNN/PyTorch/Keras form, ``False`` Cho et al. 2014.
  Initialiser options as in ``seqjax.cells.lstm.init``.
  """
  where = "gru.init"
  base.check_unknown_options(where, unknown, _OPTIONS)
  base.check_sizes(where, input_size=input_size, hidden_size=hidden_size)
  if not isinstance(reset_after, bool):
    raise ValueError(f"{where}: reset_after must be True or False; got {reset_after!r}")
  input_fn = inits.resolve(where, "input_init", input_init)
  recurrent_fn = inits.resolve(where, "recurrent_init", recurrent_init)
  H = hidden_size
  k_ih, k_hh, k_b, k_bn = jax.random.split(key, 4)
  w_ih = input_fn(k_ih, (input_size, 3 * H), dtype, hidden_size=H, gates=3)
  w_hh = recurrent_fn(k_hh, (H, 3 * H), dtype, hidden_size=H, gates=3)
  b = inits.make_bias(where, bias_init, k_b, 3 * H, dtype, hidden_size=H)
  b_hn = inits.make_bias(where, bias_init, k_bn, H, dtype, hidden_size=H) if reset_after else None
  return GRUParams(w_ih=w_ih, w_hh=w_hh, b=b, b_hn=b_hn)


def input_size(params: GRUParams) -> int:
  return params.w_ih.shape[0]


def hidden_size(params: GRUParams) -> int:
  return params.w_hh.shape[0]


def output_size(params: GRUParams) -> int:
  return hidden_size(params)


def initial_carry(params: GRUParams, batch_shape: Any) -> GRUCarry:
  """Zeros of shape ``[*batch_shape, H]``."""
  shape = base.normalize_batch_shape(batch_shape) + (hidden_size(params),)
  return GRUCarry(h=jnp.zeros(shape, base.carry_dtype(params.w_hh.dtype)))


def project(params: GRUParams, xs: jax.Array) -> jax.Array:
  """``xs W_ih + b`` for every position at once: ``[..., I] -> [..., 3H]``."""
  return base.affine("gru.project", xs, params.w_ih, params.b)


def step(params: GRUParams, carry: GRUCarry,
         projected_t: jax.Array) -> tuple[GRUCarry, jax.Array]:
  """One step of the equations above; ``projected_t: [*B, 3H]`` from ``project``."""
  _, z, n = gates(params, carry, projected_t)
  h_new = (1.0 - z) * n + z * carry.h
  return GRUCarry(h=h_new), h_new


def gates(params: GRUParams, carry: GRUCarry,
          projected_t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(r, z, n)`` of one step: the reset and update gates and the candidate."""
  h = carry.h
  H = hidden_size(params)
  x_r, x_z, x_n = jnp.split(projected_t, 3, axis=-1)
  if params.b_hn is not None:
    h_r, h_z, h_n = jnp.split(h @ params.w_hh, 3, axis=-1)
    r = jax.nn.sigmoid(x_r + h_r)
    z = jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * (h_n + base.expand_as(params.b_hn, h_n)))
  else:
    h_r, h_z = jnp.split(h @ params.w_hh[:, :2 * H], 2, axis=-1)
    r = jax.nn.sigmoid(x_r + h_r)
    z = jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + (r * h) @ params.w_hh[:, 2 * H:])
  return r, z, n


CELL = base.Cell(
    name="gru", init=init, initial_carry=initial_carry, project=project, step=step,
    input_size=input_size, hidden_size=hidden_size, output_size=output_size,
    gates=("r", "z", "n"), memory_gate=lambda params, carry, p_t: gates(params, carry, p_t)[1],
    recurrent_weight="w_hh",
    kernels={base.Backend.FUSED: base.Kernel(unsupported=fused.gru_unsupported,
                                             run=fused.run_gru,
                                             project=fused.project_mixed),
             base.Backend.ONEDNN: base.Kernel(unsupported=onednn.gru_unsupported,
                                              run=onednn.run_gru,
                                              worthwhile=onednn.gru_worthwhile)})
