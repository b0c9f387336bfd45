"""``UnrollOptions``: every option that changes how a recurrence is computed, as one value."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from seqjax.cells.base import Backend

COMPUTE_DTYPES = ("", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class UnrollOptions:
  """How ``seqjax.recurrence.unroll`` runs a cell (frozen, hashable: a static jit argument).

  Attributes:
    reverse: run from the end of each sequence to its start (outputs stay aligned).
    unroll: scan iterations unrolled into one loop body (``lax.scan``'s ``unroll``).
    remat: recompute each step in the backward pass instead of storing its intermediates.
    compute_dtype: ``"bfloat16"`` (or ``"float16"``, or a dtype): the input projection and the
      recurrent matmuls take operands in it and accumulate in float32; parameters, the carry
      and the gate math stay float32. Needs a kernel that supports it (``Backend.FUSED``).
    backend: a ``Backend`` (or its name: ``"auto"``, ``"scan"``, ``"associative"``,
      ``"fused"``, ``"onednn"``, ``"cudnn"``).
    state_dropout: variational dropout on the recurrent connection (Gal & Ghahramani 2016):
      ``h_{t-1}`` enters each step as ``h_{t-1} ⊙ m / (1 - p)`` with one Bernoulli mask per
      sequence (the carry keeps the undropped ``h``).
    zoneout: a rate, or one per carry part (``(z_h, z_c)`` for an LSTM), Krueger et al. 2016:
      each unit keeps its previous value with probability ``z``; at evaluation the expectation.

  >>> UnrollOptions(backend="scan", zoneout=(0.1, 0.05)).backend
  <Backend.SCAN: 'scan'>
  """
  reverse: bool = False
  unroll: int = 1
  remat: bool = False
  compute_dtype: Any = None
  backend: Backend = Backend.AUTO
  state_dropout: float = 0.0
  zoneout: Any = 0.0

  def __post_init__(self):
    try:
      object.__setattr__(self, "backend", Backend(self.backend))
    except ValueError:
      raise ValueError(f"backend must be one of {[b.value for b in Backend]}; got "
                       f"{self.backend!r}") from None
    if isinstance(self.zoneout, (list, tuple)):
      object.__setattr__(self, "zoneout", tuple(float(z) for z in self.zoneout))
    if self.compute_dtype in ("", None):
      object.__setattr__(self, "compute_dtype", None)
    else:
      object.__setattr__(self, "compute_dtype", jnp.dtype(self.compute_dtype))
    if isinstance(self.unroll, bool) or not isinstance(self.unroll, int) or self.unroll < 1:
      raise ValueError(f"unroll must be a positive int; got {self.unroll!r}")
    if not 0.0 <= self.state_dropout < 1.0:
      raise ValueError(f"state_dropout must be in [0, 1); got {self.state_dropout!r}")

  @property
  def regularized(self) -> bool:
    """Whether a per-step regulariser is on (state dropout or zoneout)."""
    zones = self.zoneout if isinstance(self.zoneout, tuple) else (self.zoneout,)
    return self.state_dropout > 0 or any(z > 0 for z in zones)

  def replace(self, **changes: Any) -> "UnrollOptions":
    return dataclasses.replace(self, **changes)


def resolve(options: UnrollOptions | None, overrides: dict[str, Any]) -> UnrollOptions:
  """``options`` (default ``UnrollOptions()``) with keyword ``overrides`` of its fields."""
  options = UnrollOptions() if options is None else options
  if not isinstance(options, UnrollOptions):
    raise TypeError(f"options must be an UnrollOptions; got {type(options).__name__}")
  unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(UnrollOptions)})
  if unknown:
    raise TypeError(f"unknown unroll option(s) {unknown}; UnrollOptions has "
                    f"{[f.name for f in dataclasses.fields(UnrollOptions)]}")
  return dataclasses.replace(options, **overrides) if overrides else options
