"""Weight initialisers for recurrent cells, selectable by name or given as a callable.

Every initialiser has the signature ``fn(key, shape, dtype, *, hidden_size, gates) -> array``
where ``shape`` is ``[fan_in, gates * hidden_size]`` for a fused gate matrix (or
``[fan_in, out]`` for a projection, ``gates=1``), so per-gate block structure is available.

===================  ==========================================================================
name                 rule
===================  ==========================================================================
``"uniform"``        U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default for every RNN weight and bias
``"glorot_uniform"`` U(-l, l), l = sqrt(6 / (fan_in + fan_out)) over the whole matrix (Keras)
``"lecun_normal"``   truncated normal, variance 1/fan_in (Flax's default kernel initialiser)
``"orthogonal"``     each gate block ``[fan_in, H]`` (semi-)orthogonal (Saxe et al. 2014)
``"identity"``       each gate block the identity; needs ``fan_in == H`` (IRNN, Le et al. 2015)
``"irnn_input"``     N(0, 0.001^2), the non-recurrent weights of the IRNN paper
``"zeros"``          zeros
===================  ==========================================================================
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

Initializer = Callable[..., jax.Array]


def uniform(key, shape, dtype, *, hidden_size, gates):
  del gates
  bound = 1.0 / jnp.sqrt(hidden_size)
  return jax.random.uniform(key, shape, dtype, -bound, bound)


def glorot_uniform(key, shape, dtype, *, hidden_size, gates):
  del hidden_size, gates
  fan_in, fan_out = shape[0], shape[-1]
  bound = jnp.sqrt(6.0 / (fan_in + fan_out))
  return jax.random.uniform(key, shape, dtype, -bound, bound)


def lecun_normal(key, shape, dtype, *, hidden_size, gates):
  """Truncated normal with variance ``1 / fan_in`` (``fan_in = shape[0]``): Flax's default
  kernel initialiser, and the input kernel of ``flax.linen.OptimizedLSTMCell``."""
  del hidden_size, gates
  return jax.nn.initializers.lecun_normal()(key, shape, dtype)


def orthogonal(key, shape, dtype, *, hidden_size, gates):
  fan_in = shape[0]
  keys = jax.random.split(key, gates)
  blocks = [jax.nn.initializers.orthogonal()(k, (fan_in, shape[-1] // gates), dtype)
            for k in keys]
  del hidden_size
  return jnp.concatenate(blocks, axis=-1)


def identity(key, shape, dtype, *, hidden_size, gates):
  del key
  fan_in, width = shape[0], shape[-1] // gates
  if fan_in != width:
    raise ValueError(f"identity initialiser needs square gate blocks; got {fan_in}x{width}")
  del hidden_size
  return jnp.concatenate([jnp.eye(fan_in, dtype=dtype)] * gates, axis=-1)


def irnn_input(key, shape, dtype, *, hidden_size, gates):
  del hidden_size, gates
  return 0.001 * jax.random.normal(key, shape, dtype)


def zeros(key, shape, dtype, *, hidden_size, gates):
  del key, hidden_size, gates
  return jnp.zeros(shape, dtype)


INITIALIZERS: dict[str, Initializer] = {
    "uniform": uniform,
    "glorot_uniform": glorot_uniform,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
    "identity": identity,
    "irnn_input": irnn_input,
    "zeros": zeros,
}


def resolve(where: str, arg: str, value: Any, choices: Sequence[str] | None = None) -> Initializer:
  """Turns a name or callable into an initialiser; ``ValueError`` names the argument if bad."""
  if callable(value):
    return value
  allowed = list(choices) if choices is not None else list(INITIALIZERS)
  if value not in allowed:
    raise ValueError(f"{where}: {arg} must be a callable or one of {allowed}; got {value!r}")
  return INITIALIZERS[value]


def bias_uniform(key, size: int, dtype, *, hidden_size: int) -> jax.Array:
  """A bias vector from U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's rule)."""
  bound = 1.0 / jnp.sqrt(hidden_size)
  return jax.random.uniform(key, (size,), dtype, -bound, bound)


BIAS_INITIALIZERS = ("uniform", "zeros")


def make_bias(where: str, bias_init: Any, key, size: int, dtype, *, hidden_size: int) -> jax.Array:
  """A bias vector: ``"uniform"`` (U(±1/sqrt(H))), ``"zeros"``, or an initialiser callable."""
  if callable(bias_init):
    return bias_init(key, (size,), dtype, hidden_size=hidden_size, gates=1)
  if bias_init not in BIAS_INITIALIZERS:
    raise ValueError(f"{where}: bias_init must be a callable or one of "
                     f"{list(BIAS_INITIALIZERS)}; got {bias_init!r}")
  if bias_init == "zeros":
    return jnp.zeros((size,), dtype)
  return bias_uniform(key, size, dtype, hidden_size=hidden_size)


def scaled_uniform(scale: float) -> Initializer:
  """U(-scale, scale) for every entry (Zaremba et al. 2014 initialise all weights so)."""

  def init(key, shape, dtype, *, hidden_size=None, gates=None):
    del hidden_size, gates
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init
