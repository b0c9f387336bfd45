r"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for
Long Sequences"): a complex diagonal linear recurrence with a stable exponential
parameterisation and normalised input, scanned in parallel for training.

Equations (``u_t: [*B, I]`` real input, ``x_t: [*B, N]`` complex state)::

    λ = exp(-exp(ν) + i·exp(θ))                 (|λ| < 1 by construction)
    x_t = λ ⊙ x_{t-1} + exp(γ) ⊙ (u_t B)        B = B_re + i·B_im: [I, N]
    y_t = Re(x_t C) + D ⊙ u_t                   C = C_re + i·C_im: [N, I], D: [I]

Initialisation as the paper's ``init_lru_parameters``: ``|λ|`` uniform on the ring
``[r_min, r_max]`` (in area), phase uniform in ``[0, max_phase]``, ``γ = log √(1 - |λ|²)``,
``B ~ N(0, 1/(2I))``, ``C ~ N(0, 1/N)``, ``D ~ N(0, 1)``. The carry holds the state's real and
imaginary parts, ``LRUCarry(re, im)`` (float32); the output size equals the input size.
``coefficients`` gives ``(a, b)`` with ``x_t = a_t ⊙ x_{t-1} + b_t`` (complex64) for
``seqjax.recurrence.unroll(..., backend="associative")``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from seqjax.cells import base


class LRUCarry(NamedTuple):
  re: jax.Array  # [*B, N]
  im: jax.Array  # [*B, N]

  @property
  def h(self) -> jax.Array:
    """The real part: what attention, bridges and diagnostics read as "the state"."""
    return self.re


@base.params_dataclass
class LRUParams:
  nu_log: jax.Array  # [N]
  theta_log: jax.Array  # [N]
  gamma_log: jax.Array  # [N]
  b_re: jax.Array  # [I, N]
  b_im: jax.Array  # [I, N]
  c_re: jax.Array  # [N, I]
  c_im: jax.Array  # [N, I]
  d: jax.Array  # [I]


_OPTIONS = ("dtype", "r_min", "r_max", "max_phase")


def init(key: jax.Array, input_size: int, hidden_size: int, *, dtype: Any = jnp.float32,
         r_min: float = 0.0, r_max: float = 1.0, max_phase: float = 2 * math.pi,
         **unknown: Any) -> LRUParams:
  """``hidden_size`` is N, the complex state size; ``r_min``/``r_max`` bound ``|λ|`` (the
  paper uses 0.9 / 0.999 for long-range tasks)."""
  where = "lru.init"
  base.check_unknown_options(where, unknown, _OPTIONS)
  base.check_sizes(where, input_size=input_size, hidden_size=hidden_size)
  if not 0.0 <= r_min < r_max <= 1.0:
    raise ValueError(f"{where}: need 0 <= r_min < r_max <= 1; got r_min={r_min}, r_max={r_max}")
  I, N = input_size, hidden_size
  k_u1, k_u2, k_bre, k_bim, k_cre, k_cim, k_d = jax.random.split(key, 7)
  u1 = jax.random.uniform(k_u1, (N,), jnp.float32)
  u2 = jax.random.uniform(k_u2, (N,), jnp.float32)
  nu_log = jnp.log(-0.5 * jnp.log(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2))
  theta_log = jnp.log(max_phase * u2)
  modulus = jnp.exp(-jnp.exp(nu_log))
  gamma_log = jnp.log(jnp.sqrt(1.0 - modulus ** 2))
  normal = lambda k, shape, scale: (jax.random.normal(k, shape, jnp.float32) * scale).astype(dtype)
  return LRUParams(nu_log=nu_log.astype(dtype), theta_log=theta_log.astype(dtype),
                   gamma_log=gamma_log.astype(dtype),
                   b_re=normal(k_bre, (I, N), 1 / math.sqrt(2 * I)),
                   b_im=normal(k_bim, (I, N), 1 / math.sqrt(2 * I)),
                   c_re=normal(k_cre, (N, I), 1 / math.sqrt(N)),
                   c_im=normal(k_cim, (N, I), 1 / math.sqrt(N)), d=normal(k_d, (I,), 1.0))


def input_size(params: LRUParams) -> int:
  return params.b_re.shape[0]


def hidden_size(params: LRUParams) -> int:
  return params.b_re.shape[1]


def output_size(params: LRUParams) -> int:
  return params.c_re.shape[1]


def initial_carry(params: LRUParams, batch_shape: Any) -> LRUCarry:
  shape = base.normalize_batch_shape(batch_shape) + (hidden_size(params),)
  zeros = jnp.zeros(shape, base.carry_dtype(params.b_re.dtype))
  return LRUCarry(re=zeros, im=zeros)


def lam(params: LRUParams) -> jax.Array:
  """``λ = exp(-exp(ν) + i exp(θ))``: ``[N]`` complex64."""
  nu, theta = params.nu_log.astype(jnp.float32), params.theta_log.astype(jnp.float32)
  return jnp.exp(lax.complex(-jnp.exp(nu), jnp.exp(theta))).astype(jnp.complex64)


def project(params: LRUParams, xs: jax.Array) -> jax.Array:
  """``[Re, Im of exp(γ)(u B); D ⊙ u]`` for every position: ``[..., I] -> [..., 2N + I]``."""
  xs = jnp.asarray(xs)
  base.check_features("lru.project", xs, input_size(params))
  gamma = base.expand_as(jnp.exp(params.gamma_log.astype(jnp.float32)), xs)
  bu_re = (xs @ params.b_re).astype(jnp.float32) * gamma
  bu_im = (xs @ params.b_im).astype(jnp.float32) * gamma
  du = (xs * base.expand_as(params.d, xs)).astype(jnp.float32)
  return jnp.concatenate([bu_re, bu_im, du], axis=-1)


def _split(params: LRUParams, projected: jax.Array) -> tuple[jax.Array, jax.Array]:
  n = hidden_size(params)
  b = lax.complex(projected[..., :n].astype(jnp.float32),
                  projected[..., n:2 * n].astype(jnp.float32))
  return b, projected[..., 2 * n:]


def coefficients(params: LRUParams, projected: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(a, b)`` with ``x_t = a_t ⊙ x_{t-1} + b_t`` (complex64)."""
  b, _ = _split(params, projected)
  return jnp.broadcast_to(base.expand_as(lam(params), b), b.shape), b


def readout(params: LRUParams, xs_state: jax.Array, projected: jax.Array) -> jax.Array:
  """``y = Re(x C) + D ⊙ u`` for states ``[..., N]`` (complex)."""
  _, du = _split(params, projected)
  c_re, c_im = params.c_re.astype(jnp.float32), params.c_im.astype(jnp.float32)
  return xs_state.real @ c_re - xs_state.imag @ c_im + du


def state(carry: LRUCarry) -> jax.Array:
  return lax.complex(carry.re.astype(jnp.float32), carry.im.astype(jnp.float32))


def from_state(params: LRUParams, x: jax.Array) -> LRUCarry:
  del params
  return LRUCarry(re=jnp.real(x).astype(jnp.float32), im=jnp.imag(x).astype(jnp.float32))


def step(params: LRUParams, carry: LRUCarry, projected_t: jax.Array) -> tuple[LRUCarry, jax.Array]:
  """One step (generation, or the sequential scan)."""
  a, b = coefficients(params, projected_t)
  x = a * state(carry) + b
  return from_state(params, x), readout(params, x, projected_t)


CELL = base.Cell(
    name="lru", init=init, initial_carry=initial_carry, project=project, step=step,
    input_size=input_size, hidden_size=hidden_size, output_size=output_size,
    linear=base.LinearForm(coefficients=coefficients, state=state, from_state=from_state,
                           readout=readout))
