"""What a cell is, and the small pieces every cell module shares.

A *cell* is a module (or any object) with these pure functions over an explicit
parameter pytree ``params``:

- ``init(key, input_size, hidden_size, *, dtype=float32, **variant) -> params``
- ``initial_carry(params, batch_shape) -> carry``: zeros; a NamedTuple.
- ``project(params, xs) -> projected``: the input half of every gate, ``[..., I] -> [..., G*H]``,
  for all time steps at once (one matmul outside the recurrent loop).
- ``step(params, carry, projected_t) -> (carry, output_t)``: the recurrent half.
- ``input_size(params)``, ``output_size(params)``: feature sizes, read off the shapes.

Parameters are frozen dataclasses registered as pytrees. Arrays are pytree leaves; variant
switches that change the computation (``activation``, ``coupled``, ...) are static metadata, so
``jit`` specialises on them and optimizers never see them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array


class Cell(Protocol):
  """The record of pure functions that ``seqjax.unroll`` drives."""

  def init(self, key: Array, input_size: int, hidden_size: int, **options: Any) -> Any: ...

  def initial_carry(self, params: Any, batch_shape: Sequence[int]) -> Any: ...

  def project(self, params: Any, xs: Array) -> Array: ...

  def step(self, params: Any, carry: Any, projected_t: Array) -> tuple[Any, Array]: ...

  def input_size(self, params: Any) -> int: ...

  def output_size(self, params: Any) -> int: ...


def static(default: Any = dataclasses.MISSING) -> Any:
  """A dataclass field that is pytree metadata (static under jit), not a leaf."""
  return dataclasses.field(default=default, metadata={"static": True})


def params_dataclass(cls: type) -> type:
  """Makes ``cls`` a frozen dataclass and registers it as a pytree.

  Fields made with ``static()`` are metadata; every other field is a child (``None`` for an
  absent optional weight is an empty subtree).
  """
  cls = dataclasses.dataclass(frozen=True)(cls)
  fields = dataclasses.fields(cls)
  data = [f.name for f in fields if not f.metadata.get("static")]
  meta = [f.name for f in fields if f.metadata.get("static")]
  return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def check_unknown_options(where: str, unknown: Mapping[str, Any], known: Sequence[str]) -> None:
  """Raises ``ValueError`` naming options that ``where`` does not take."""
  if unknown:
    names = ", ".join(repr(k) for k in sorted(unknown))
    raise ValueError(f"{where}: unknown option(s) {names}; expected one of: {', '.join(known)}")


def check_sizes(where: str, **sizes: Any) -> None:
  """Raises ``ValueError`` unless every size is a positive ``int``."""
  for name, value in sizes.items():
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
      raise ValueError(f"{where}: {name} must be a positive int; got {value!r}")


def check_choice(where: str, name: str, value: Any, choices: Sequence[Any]) -> None:
  if value not in choices:
    raise ValueError(f"{where}: {name} must be one of {list(choices)}; got {value!r}")


def check_features(where: str, xs: Array, expected: int, name: str = "xs") -> None:
  """Raises ``ValueError`` if the last axis of ``xs`` is not ``expected``."""
  if xs.ndim < 1 or xs.shape[-1] != expected:
    raise ValueError(
        f"{where}: {name} has shape {tuple(xs.shape)}, so feature size "
        f"{xs.shape[-1] if xs.ndim else None}; expected input_size={expected} "
        f"(the first axis of params.w_ih)")


def affine(where: str, xs: Any, w: Array, b: Array | None) -> Array:
  """``xs @ w (+ b)`` over every leading axis, after checking ``xs``'s feature size.

  This is the input projection of every cell: one matmul for all time steps.
  """
  xs = jnp.asarray(xs)
  check_features(where, xs, w.shape[0])
  z = xs @ w
  return z if b is None else z + expand_as(b, z)


def expand_as(v: Array, like: Array) -> Array:
  """Reshapes ``v`` of shape ``s`` to ``[1, ..., 1, *s]`` with the rank of ``like``.

  Broadcasting is written out so that library code runs under
  ``jax_numpy_rank_promotion="raise"``.
  """
  return jnp.reshape(v, (1,) * (like.ndim - v.ndim) + tuple(v.shape))


def carry_dtype(param_dtype: Any) -> Any:
  """The recurrent state is kept in at least float32 (also for bf16 parameters)."""
  return jnp.promote_types(param_dtype, jnp.float32)


def normalize_batch_shape(batch_shape: Any) -> tuple[int, ...]:
  if isinstance(batch_shape, int):
    return (batch_shape,)
  return tuple(int(b) for b in batch_shape)
