r"""Elman (vanilla) RNN, with tanh or ReLU, and IRNN initialisation.

Equations (row vectors, as the code computes them)::

    h_t = act(x_t W_ih + b + h_{t-1} W_hh)          act = tanh (Elman 1990) or relu

with ``x_t: [*B, I]``, ``h_t: [*B, H]``, ``W_ih: [I, H]``, ``W_hh: [H, H]``, ``b: [H]``.
The output at each step is ``h_t``; the carry is ``RNNCarry(h)``.

``identity_init=True`` is the IRNN of Le, Jaitly & Hinton (2015): ``W_hh = identity_scale * I``,
``b = 0``, and input weights from N(0, 0.001^2); use it with ``activation="relu"``.

PyTorch's ``nn.RNN`` keeps two biases; here ``b = b_ih + b_hh`` (see ``seqjax.interop.torch``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seqjax.cells import base
from seqjax.cells import initializers as inits
from seqjax.recurrence import onednn

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


class RNNCarry(NamedTuple):
  h: jax.Array  # [*B, H]


@base.params_dataclass
class RNNParams:
  w_ih: jax.Array  # [I, H]
  w_hh: jax.Array  # [H, H]
  b: jax.Array  # [H]
  activation: str = base.static("tanh")


_OPTIONS = ("dtype", "activation", "identity_init", "identity_scale", "input_init",
            "recurrent_init", "bias_init")


def init(key: jax.Array, input_size: int, hidden_size: int, *, dtype: Any = jnp.float32,
         activation: str = "tanh", identity_init: bool = False, identity_scale: float = 1.0,
         input_init: Any = None, recurrent_init: Any = None, bias_init: Any = None,
         **unknown: Any) -> RNNParams:
  """Initialises an Elman RNN.

  Args:
    key: PRNG key.
    input_size: I. hidden_size: H.
    dtype: parameter dtype.
    activation: ``"tanh"`` or ``"relu"``.
    identity_init: IRNN initialisation (see module docstring).
    identity_scale: scale of the identity recurrent matrix when ``identity_init``.
    input_init, recurrent_init: initialiser names or callables (``seqjax.cells.initializers``);
      defaults ``"uniform"`` (PyTorch), or ``"irnn_input"`` / ``"identity"`` under IRNN.
    bias_init: ``"uniform"`` (default) or ``"zeros"`` (default under IRNN).
  """
  where = "simple.init"
  base.check_unknown_options(where, unknown, _OPTIONS)
  base.check_sizes(where, input_size=input_size, hidden_size=hidden_size)
  base.check_choice(where, "activation", activation, tuple(ACTIVATIONS))
  if identity_init:
    if recurrent_init not in (None, "identity"):
      raise ValueError(f"{where}: identity_init=True sets recurrent_init='identity'; "
                       f"got recurrent_init={recurrent_init!r}")
    input_init = "irnn_input" if input_init is None else input_init
    bias_init = "zeros" if bias_init is None else bias_init
  input_fn = inits.resolve(where, "input_init", input_init or "uniform")
  recurrent_fn = inits.resolve(where, "recurrent_init", recurrent_init or "uniform")
  k_ih, k_hh, k_b = jax.random.split(key, 3)
  H = hidden_size
  w_ih = input_fn(k_ih, (input_size, H), dtype, hidden_size=H, gates=1)
  if identity_init:
    w_hh = identity_scale * jnp.eye(H, dtype=dtype)
  else:
    w_hh = recurrent_fn(k_hh, (H, H), dtype, hidden_size=H, gates=1)
  b = inits.make_bias(where, bias_init or "uniform", k_b, H, dtype, hidden_size=H)
  return RNNParams(w_ih=w_ih, w_hh=w_hh, b=b, activation=activation)


def input_size(params: RNNParams) -> int:
  return params.w_ih.shape[0]


def hidden_size(params: RNNParams) -> int:
  return params.w_hh.shape[0]


def output_size(params: RNNParams) -> int:
  return hidden_size(params)


def initial_carry(params: RNNParams, batch_shape: Any) -> RNNCarry:
  """Zeros of shape ``[*batch_shape, H]``."""
  shape = base.normalize_batch_shape(batch_shape) + (hidden_size(params),)
  return RNNCarry(h=jnp.zeros(shape, base.carry_dtype(params.w_hh.dtype)))


def project(params: RNNParams, xs: jax.Array) -> jax.Array:
  """``xs W_ih + b`` for every position at once: ``[..., I] -> [..., H]``."""
  return base.affine("simple.project", xs, params.w_ih, params.b)


def step(params: RNNParams, carry: RNNCarry, projected_t: jax.Array) -> tuple[RNNCarry, jax.Array]:
  """One step: ``h_t = act(projected_t + h_{t-1} W_hh)``; ``projected_t: [*B, H]``."""
  h = ACTIVATIONS[params.activation](projected_t + carry.h @ params.w_hh)
  return RNNCarry(h=h), h


CELL = base.Cell(
    name="rnn", init=init, initial_carry=initial_carry, project=project, step=step,
    input_size=input_size, hidden_size=hidden_size, output_size=output_size, gates=("h",),
    recurrent_weight="w_hh",
    kernels={base.Backend.ONEDNN: base.Kernel(unsupported=onednn.rnn_unsupported,
                                              run=onednn.run_rnn,
                                              worthwhile=onednn.rnn_worthwhile)})
