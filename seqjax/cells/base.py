"""What a cell is, and the small pieces every cell module shares.

A cell is a record, ``Cell``, that each family module (``simple``, ``lstm``, ``gru``,
``minrnn``, ``lru``) exports once as ``CELL`` (``minrnn`` exports two). Its pure functions work
over an explicit parameter pytree ``params``:

- ``init(key, input_size, hidden_size, *, dtype=float32, **variant) -> params``
- ``initial_carry(params, batch_shape) -> carry``: zeros; a NamedTuple.
- ``project(params, xs) -> projected``: the input half of every gate, ``[..., I] -> [..., G*H]``,
  for all time steps at once (one matmul outside the recurrent loop).
- ``step(params, carry, projected_t) -> (carry, output_t)``: the recurrent half.
- ``input_size(params)``, ``hidden_size(params)``, ``output_size(params)``: feature sizes.

and it declares what else it can do, so that nothing asks a cell with ``hasattr``,
``isinstance`` or its module's name: ``gates`` (names, for diagnostics), ``linear`` (the
``h_t = a_t h_{t-1} + b_t`` form the associative scan needs), ``recurrent_weight`` (the field
that weight drop and the spectral diagnostics read), ``memory_gate`` (forget/update gate
values) and ``kernels`` (optional fast paths by back end, each tested equal to the scan).

Parameters are frozen dataclasses registered as pytrees. Arrays are pytree leaves; variant
switches that change the computation (``activation``, ``coupled``, ...) are static metadata, so
``jit`` specialises on them and optimizers never see them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array


class Backend(str, enum.Enum):
  """How ``seqjax.recurrence.unroll`` runs a cell over time.

  - ``AUTO``: the fastest back end whose cell record and options allow it, without changing
    the numbers of the plain scan beyond float round-off: ``ONEDNN`` on the CPU where the
    extension is built and the cell and options allow it (it does not choose by batch size:
    at batch 1 the fused GRU infers faster), else ``FUSED`` where the cell has that kernel and
    no per-step regulariser is on, else ``SCAN``.
  - ``SCAN``: autodiff through ``lax.scan``; every option.
  - ``ASSOCIATIVE``: ``lax.associative_scan`` over the cell's ``linear`` form (O(log T) depth;
    a different summation order, so it is asked for, not picked).
  - ``FUSED``: the hand-written backward (``seqjax.recurrence.fused``).
  - ``CUDNN``: cuDNN's LSTM kernel for a whole stack (GPU; ``seqjax.recurrence.cudnn``).
  - ``ONEDNN``: oneDNN's RNN primitives through XLA's FFI (CPU; ``seqjax.recurrence.onednn``,
    ``pip install -e ".[cpu-kernels]"``).
  """
  AUTO = "auto"
  SCAN = "scan"
  ASSOCIATIVE = "associative"
  FUSED = "fused"
  CUDNN = "cudnn"
  ONEDNN = "onednn"


@dataclasses.dataclass(frozen=True)
class LinearForm:
  """``h_t = a_t ⊙ h_{t-1} + b_t`` (what ``Backend.ASSOCIATIVE`` composes).

  ``coefficients(params, projected [T, *B, G]) -> (a, b) [T, *B, N]``; ``state(carry) -> h``;
  ``from_state(params, h) -> carry``; ``readout(params, hs, projected) -> ys``.
  """
  coefficients: Callable[..., tuple[Array, Array]]
  state: Callable[[Any], Array]
  from_state: Callable[[Any, Array], Any]
  readout: Callable[[Any, Array, Array], Array]


@dataclasses.dataclass(frozen=True)
class Kernel:
  """A cell's fast path on one back end.

  ``unsupported(params) -> str | None``: why these parameters (a variant) are not covered, or
  ``None``. ``run(params, projected [T, *B, G], carry, *, valid, resets, reverse, unroll,
  compute_dtype) -> (ys [T, *B, O], final carry)``, time-major (for ``Backend.ONEDNN``:
  ``run(params, xs [T, *B, I], carry, *, reverse, lengths)``, the raw inputs: oneDNN does the
  input projection itself). ``project(params, xs, compute_dtype)``: the input projection with
  operands in ``compute_dtype`` and float32 sums (mixed precision; ``None``: the kernel takes
  no ``compute_dtype``). ``worthwhile(batch, hidden) -> bool``: whether ``Backend.AUTO`` should
  take this kernel for ``batch`` sequences of ``hidden`` units (``None``: wherever it can
  run); a kernel slower than the fused path on small problems says so here. Asking for the
  back end by name runs it regardless.
  """
  unsupported: Callable[[Any], Optional[str]]
  run: Callable[..., tuple[Array, Any]]
  project: Optional[Callable[[Any, Array, Any], Array]] = None  # (params, xs, compute_dtype)
  worthwhile: Optional[Callable[[int, int], bool]] = None  # (batch, hidden)


@dataclasses.dataclass(frozen=True, eq=False)
class Cell:
  """The record of one cell family: its pure functions and its declared capabilities."""
  name: str
  init: Callable[..., Any]
  initial_carry: Callable[[Any, Any], Any]
  project: Callable[[Any, Array], Array]
  step: Callable[[Any, Any, Array], tuple[Any, Array]]
  input_size: Callable[[Any], int]
  hidden_size: Callable[[Any], int]
  output_size: Callable[[Any], int]
  gates: tuple[str, ...] = ()
  gate_layout: Optional[Callable[[Any], tuple[str, ...]]] = None  # w_hh column blocks, in order
  memory_gate: Optional[Callable[[Any, Any, Array], Array]] = None  # forget / update gate
  recurrent_weight: Optional[str] = None  # params field holding the recurrent matrix
  linear: Optional[LinearForm] = None
  kernels: Mapping[Backend, Kernel] = dataclasses.field(default_factory=dict)

  def recurrent_blocks(self, params: Any) -> dict[str, Array]:
    """The recurrent matrix split into one ``[P, H]`` column block per gate, by name."""
    if self.recurrent_weight is None:
      raise ValueError(f"cell {self.name!r} declares no recurrent matrix")
    w = getattr(params, self.recurrent_weight)
    names = self.gate_layout(params) if self.gate_layout is not None else self.gates
    size = w.shape[1] // len(names)
    return {n: w[:, k * size:(k + 1) * size] for k, n in enumerate(names)}

  def __repr__(self) -> str:
    return f"Cell({self.name!r})"


def static(default: Any = dataclasses.MISSING) -> Any:
  """A dataclass field that is pytree metadata (static under jit), not a leaf."""
  return dataclasses.field(default=default, metadata={"static": True})


# Every parameter class made by ``params_dataclass``, and the functions called with each new
# one (``seqjax.nn`` registers them with Flax's serialization there, so this floor imports no
# Flax).
PARAMS_CLASSES: list[type] = []
ON_NEW_PARAMS_CLASS: list[Callable[[type], None]] = []


def params_dataclass(cls: type) -> type:
  """Makes ``cls`` a frozen dataclass and registers it as a pytree.

  Fields made with ``static()`` are metadata; every other field is a child (``None`` for an
  absent optional weight is an empty subtree).
  """
  cls = dataclasses.dataclass(frozen=True)(cls)
  fields = dataclasses.fields(cls)
  data = [f.name for f in fields if not f.metadata.get("static")]
  meta = [f.name for f in fields if f.metadata.get("static")]
  cls = jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)
  PARAMS_CLASSES.append(cls)
  for hook in ON_NEW_PARAMS_CLASS:
    hook(cls)
  return cls


def data_fields(cls: type) -> list[str]:
  """The array (child) fields of a ``params_dataclass``, in order."""
  return [f.name for f in dataclasses.fields(cls) if not f.metadata.get("static")]


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
  dtype = jnp.dtype(param_dtype)
  return dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)


def wider(a: Any, b: Any) -> Any:
  """The wider of two float dtypes (what standard promotion gives, spelled out so the code
  runs under ``jax_numpy_dtype_promotion="strict"``)."""
  a, b = jnp.dtype(a), jnp.dtype(b)
  return a if jnp.finfo(a).bits >= jnp.finfo(b).bits else b


def normalize_batch_shape(batch_shape: Any) -> tuple[int, ...]:
  if isinstance(batch_shape, int):
    return (batch_shape,)
  return tuple(int(b) for b in batch_shape)
