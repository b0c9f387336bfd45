r"""LSTM (Hochreiter & Schmidhuber 1997; forget gate, Gers et al. 2000) and its variants.

Gate order in the fused matrices is PyTorch's ``(i, f, g, o)``; with ``coupled=True`` it is
``(f, g, o)``. Equations (row vectors; ``σ`` the logistic function, ``⊙`` elementwise)::

    [z_i, z_f, z_g, z_o] = x_t W_ih + b + h_{t-1} W_hh
    i_t = σ(z_i + p_i ⊙ c_{t-1})          (coupled: i_t = 1 - f_t)
    f_t = σ(z_f + p_f ⊙ c_{t-1})
    g_t = tanh(z_g)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o_t = σ(z_o + p_o ⊙ c_t)
    h_t = o_t ⊙ tanh(c_t)                 (proj_size: h_t = (o_t ⊙ tanh(c_t)) W_hr)

Options (keyword arguments of ``init``; all combine):

- ``forget_bias`` (default 1.0) is added to the forget-gate part of ``b`` at init
  (Gers et al. 2000; Jozefowicz et al. 2015).
- ``peephole``: the diagonal peephole weights ``p_i, p_f, p_o: [H]`` (Gers & Schmidhuber 2000);
  without it the ``p`` terms are absent.
- ``coupled``: CIFG, the input gate is ``1 - f_t`` (Greff et al. 2017); three gate blocks.
- ``proj_size=P``: LSTMP (Sak et al. 2014) as in PyTorch, ``W_hr: [H, P]``; ``h_t: [*B, P]``
  and ``W_hh: [P, G*H]``. Needs ``0 < P < H``.
- ``layer_norm``: LN-LSTM (Ba et al. 2016)::

      [z_i, z_f, z_g, z_o] = LN(x_t W_ih; α_x) + LN(h_{t-1} W_hh; α_h) + b
      h_t = o_t ⊙ tanh(LN(c_t; α_c, β_c))

  each LN over the whole ``G*H`` (or ``H``) vector. The paper's two shifts of the gate LNs are
  folded into ``b``; the carried ``c_t`` is the un-normalised cell.

Shapes: ``x_t: [*B, I]``, ``h_t: [*B, P or H]``, ``c_t: [*B, H]``, ``W_ih: [I, G*H]``,
``W_hh: [P or H, G*H]``, ``b: [G*H]`` with ``G = 4`` (``3`` if coupled). The carry is
``LSTMCarry(h, c)``; the output at each step is ``h_t``.

PyTorch keeps two biases; here ``b = b_ih + b_hh`` (see ``seqjax.interop.torch``).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax

from seqjax.cells import base
from seqjax.cells import initializers as inits
from seqjax.recurrence import fused, onednn


class LSTMCarry(NamedTuple):
  h: jax.Array  # [*B, P or H]
  c: jax.Array  # [*B, H]


@base.params_dataclass
class LSTMParams:
  w_ih: jax.Array  # [I, G*H]
  w_hh: jax.Array  # [P or H, G*H]
  b: jax.Array  # [G*H]
  p_i: Optional[jax.Array] = None  # [H] peephole (absent when coupled)
  p_f: Optional[jax.Array] = None  # [H]
  p_o: Optional[jax.Array] = None  # [H]
  w_hr: Optional[jax.Array] = None  # [H, P] projection
  ln_x: Optional[jax.Array] = None  # [G*H] LN gain on x W_ih
  ln_h: Optional[jax.Array] = None  # [G*H] LN gain on h W_hh
  ln_c_scale: Optional[jax.Array] = None  # [H]
  ln_c_bias: Optional[jax.Array] = None  # [H]
  coupled: bool = base.static(False)
  ln_eps: float = base.static(1e-5)


_OPTIONS = ("dtype", "forget_bias", "peephole", "coupled", "proj_size", "layer_norm", "ln_eps",
            "input_init", "recurrent_init", "bias_init")


def init(key: jax.Array, input_size: int, hidden_size: int, *, dtype: Any = jnp.float32,
         forget_bias: float = 1.0, peephole: bool = False, coupled: bool = False,
         proj_size: int = 0, layer_norm: bool = False, ln_eps: float = 1e-5,
         input_init: Any = "uniform", recurrent_init: Any = "uniform", bias_init: Any = "uniform",
         **unknown: Any) -> LSTMParams:
  """Initialises an LSTM; see the module docstring for the options.

  ``input_init`` / ``recurrent_init`` name an initialiser of ``seqjax.cells.initializers``
  (``"uniform"`` is PyTorch's U(±1/sqrt(H)), ``"orthogonal"`` is per gate block) or are callables;
  ``bias_init`` is ``"uniform"``, ``"zeros"`` or a callable. Peephole weights are U(±1/sqrt(H)), the
  projection uses ``input_init``, LN gains start at 1 and the LN shift at 0.
  """
  where = "lstm.init"
  base.check_unknown_options(where, unknown, _OPTIONS)
  base.check_sizes(where, input_size=input_size, hidden_size=hidden_size)
  H = hidden_size
  if isinstance(proj_size, bool) or not isinstance(proj_size, int) or not 0 <= proj_size < H:
    raise ValueError(f"{where}: proj_size must be an int with 0 <= proj_size < hidden_size={H} "
                     f"(0 means no projection); got {proj_size!r}")
  input_fn = inits.resolve(where, "input_init", input_init)
  recurrent_fn = inits.resolve(where, "recurrent_init", recurrent_init)
  G = 3 if coupled else 4
  P = proj_size or H
  k_ih, k_hh, k_b, k_p, k_hr = jax.random.split(key, 5)
  w_ih = input_fn(k_ih, (input_size, G * H), dtype, hidden_size=H, gates=G)
  w_hh = recurrent_fn(k_hh, (P, G * H), dtype, hidden_size=H, gates=G)
  b = inits.make_bias(where, bias_init, k_b, G * H, dtype, hidden_size=H)
  f = 0 if coupled else 1
  b = b.at[f * H:(f + 1) * H].add(jnp.asarray(forget_bias, dtype))
  extra: dict[str, Any] = {}
  if peephole:
    p = inits.uniform(k_p, (3, H), dtype, hidden_size=H, gates=1)
    extra.update(p_i=None if coupled else p[0], p_f=p[1], p_o=p[2])
  if proj_size:
    extra["w_hr"] = input_fn(k_hr, (H, P), dtype, hidden_size=H, gates=1)
  if layer_norm:
    extra.update(ln_x=jnp.ones((G * H,), dtype), ln_h=jnp.ones((G * H,), dtype),
                 ln_c_scale=jnp.ones((H,), dtype), ln_c_bias=jnp.zeros((H,), dtype))
  return LSTMParams(w_ih=w_ih, w_hh=w_hh, b=b, coupled=coupled, ln_eps=ln_eps, **extra)


def num_gates(params: LSTMParams) -> int:
  return 3 if params.coupled else 4


def input_size(params: LSTMParams) -> int:
  return params.w_ih.shape[0]


def hidden_size(params: LSTMParams) -> int:
  return params.b.shape[-1] // num_gates(params)


def output_size(params: LSTMParams) -> int:
  return params.w_hh.shape[0]


def initial_carry(params: LSTMParams, batch_shape: Any) -> LSTMCarry:
  """Zeros: ``h: [*batch_shape, P or H]``, ``c: [*batch_shape, H]``."""
  batch_shape = base.normalize_batch_shape(batch_shape)
  dtype = base.carry_dtype(params.w_hh.dtype)
  return LSTMCarry(h=jnp.zeros(batch_shape + (output_size(params),), dtype),
                   c=jnp.zeros(batch_shape + (hidden_size(params),), dtype))


def layer_norm(x: jax.Array, scale: jax.Array, bias: Optional[jax.Array], eps: float) -> jax.Array:
  """LN over the last axis, computed in at least float32."""
  x32 = x.astype(base.carry_dtype(x.dtype))
  mean = jnp.mean(x32, axis=-1, keepdims=True)
  var = jnp.mean(jnp.square(x32 - mean), axis=-1, keepdims=True)
  y = (x32 - mean) * lax.rsqrt(var + eps) * base.expand_as(scale, x32)
  if bias is not None:
    y = y + base.expand_as(bias, x32)
  return y


def project(params: LSTMParams, xs: jax.Array) -> jax.Array:
  """The input half of the gates for all positions: ``[..., I] -> [..., G*H]``.

  ``xs W_ih + b``, or ``LN(xs W_ih; α_x) + b`` with layer norm.
  """
  if params.ln_x is None:
    return base.affine("lstm.project", xs, params.w_ih, params.b)
  z = layer_norm(base.affine("lstm.project", xs, params.w_ih, None), params.ln_x, None,
                 params.ln_eps)
  return z + base.expand_as(params.b, z)


def _peep(p: Optional[jax.Array], c: jax.Array) -> Any:
  return 0.0 if p is None else base.expand_as(p, c) * c


def gates(params: LSTMParams, carry: LSTMCarry,
          projected_t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """``(i, f, g, z_o)`` of one step: the input, forget and candidate values and the output
  gate's pre-activation (its peephole reads the new cell state, so ``step`` finishes it)."""
  h, c = carry
  r = h @ params.w_hh
  if params.ln_h is not None:
    r = layer_norm(r, params.ln_h, None, params.ln_eps)
  z = projected_t + r
  if params.coupled:
    z_f, z_g, z_o = jnp.split(z, 3, axis=-1)
    f = jax.nn.sigmoid(z_f + _peep(params.p_f, c))
    i = 1.0 - f
  else:
    z_i, z_f, z_g, z_o = jnp.split(z, 4, axis=-1)
    i = jax.nn.sigmoid(z_i + _peep(params.p_i, c))
    f = jax.nn.sigmoid(z_f + _peep(params.p_f, c))
  return i, f, jnp.tanh(z_g), z_o


def step(params: LSTMParams, carry: LSTMCarry,
         projected_t: jax.Array) -> tuple[LSTMCarry, jax.Array]:
  """One step of the equations above; ``projected_t: [*B, G*H]`` from ``project``."""
  c = carry.c
  i, f, g, z_o = gates(params, carry, projected_t)
  c_new = f * c + i * g
  o = jax.nn.sigmoid(z_o + _peep(params.p_o, c_new))
  c_out = c_new
  if params.ln_c_scale is not None:
    c_out = layer_norm(c_new, params.ln_c_scale, params.ln_c_bias, params.ln_eps)
  h_new = o * jnp.tanh(c_out)
  if params.w_hr is not None:
    h_new = h_new @ params.w_hr
  return LSTMCarry(h=h_new, c=c_new), h_new


def gate_layout(params: LSTMParams) -> tuple[str, ...]:
  """The gates of ``w_hh``'s column blocks, in order (the coupled form has no input gate)."""
  return ("f", "g", "o") if params.coupled else ("i", "f", "g", "o")


CELL = base.Cell(
    name="lstm", init=init, initial_carry=initial_carry, project=project, step=step,
    input_size=input_size, hidden_size=hidden_size, output_size=output_size,
    gates=("i", "f", "g", "o"), gate_layout=gate_layout,
    memory_gate=lambda params, carry, p_t: gates(params, carry, p_t)[1],
    recurrent_weight="w_hh",
    kernels={base.Backend.FUSED: base.Kernel(unsupported=fused.lstm_unsupported,
                                             run=fused.run_lstm,
                                             project=fused.project_mixed),
             base.Backend.ONEDNN: base.Kernel(unsupported=onednn.lstm_unsupported,
                                              run=onednn.run_lstm,
                                              worthwhile=onednn.lstm_worthwhile)})
