"""Regularisers of a recurrence: per-step wrappers of a cell's step (state dropout, zoneout, the
``perturb`` probe) and the whole-sequence ones (dropout between layers, weight drop).

A step here is ``step(carry, x_t) -> (carry, y_t)`` where ``x_t`` holds the step's inputs:
``"p"`` (the projected input), ``"key"`` (the step's PRNG key) and ``"perturb"``. A wrapper takes
a step and returns one, so the scan body stays the same whatever is switched on.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

Step = Callable[[Any, dict], tuple[Any, jax.Array]]


def cell_step(cell: Any, params: Any, remat: bool = False) -> Step:
  """The cell's own step on ``x_t["p"]``, the new carry cast to the old one's dtypes;
  ``remat`` recomputes it in the backward pass instead of storing its intermediates."""
  step = jax.checkpoint(cell.step) if remat else cell.step

  def run(carry, x_t):
    new, y = step(params, carry, x_t["p"])
    return jax.tree.map(lambda n, o: n.astype(o.dtype), new, carry), y

  return run


def with_state_dropout(step: Step, h_mask: jax.Array) -> Step:
  """``h_{t-1}`` enters the step as ``h_{t-1} ⊙ mask`` (one mask per sequence; Gal &
  Ghahramani 2016); the carry keeps the undropped ``h``."""
  return lambda carry, x_t: step(carry._replace(h=carry.h * h_mask), x_t)


def zoneout_rates(where: str, zoneout: Any, carry: Any) -> tuple[float, ...]:
  """One rate per carry part from a rate or a tuple; ``ValueError`` when they do not fit."""
  n = len(jax.tree.leaves(carry))
  rates = (zoneout,) * n if isinstance(zoneout, (int, float)) else tuple(zoneout)
  if len(rates) != n or any(not 0.0 <= r < 1.0 for r in rates):
    raise ValueError(f"{where}: zoneout must be a rate in [0, 1) or one per carry part ({n}: "
                     f"h, c for an LSTM); got {zoneout!r}")
  return rates


def with_zoneout(step: Step, rates: tuple[float, ...], *, deterministic: bool,
                 training: bool) -> Step:
  """Each carry unit keeps its previous value with probability ``rate`` (Krueger et al. 2016),
  ``h_t = d_t ⊙ h_{t-1} + (1 - d_t) ⊙ h̃_t``; deterministic: the expectation
  ``z h_{t-1} + (1 - z) h̃_t``. The step's output is the zoned-out ``h``."""

  def run(carry, x_t):
    new, _ = step(carry, x_t)
    leaves_old, treedef = jax.tree.flatten(carry)
    leaves_new = jax.tree.leaves(new)
    keys = (jax.random.split(x_t["key"], len(leaves_old)) if training
            else [None] * len(leaves_old))
    out = []
    for rate, o, n, k in zip(rates, leaves_old, leaves_new, keys):
      if rate == 0:
        out.append(n)
      elif deterministic:
        out.append((rate * o + (1.0 - rate) * n).astype(o.dtype))
      else:
        out.append(jnp.where(jax.random.bernoulli(k, rate, o.shape), o, n))
    new = jax.tree.unflatten(treedef, out)
    return new, new.h

  return run


def with_perturbation(step: Step) -> Step:
  """Adds ``x_t["perturb"]`` to the step's ``h`` (and output): the gradient with respect to it
  is ``∂L/∂h_t`` (``seqjax.diagnostics``)."""

  def run(carry, x_t):
    new, _ = step(carry, x_t)
    new = new._replace(h=new.h + x_t["perturb"].astype(new.h.dtype))
    return new, new.h

  return run


def dropout(x: jax.Array, rate: float, *, key: jax.Array, locked: bool = False) -> jax.Array:
  """Inverted dropout: zero with probability ``rate``, scale the rest by ``1/(1-rate)``.

  ``locked=True`` is variational ("locked") dropout on ``x: [*B, T, F]`` (Gal & Ghahramani
  2016; Merity et al. 2017): one mask per sequence, the same at every time step.
  """
  shape = x.shape[:-2] + (1,) + x.shape[-1:] if locked else x.shape
  keep = jax.random.bernoulli(key, 1.0 - rate, shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def weight_drop(cell: Any, params: Any, rate: float, *, key: jax.Array) -> Any:
  """DropConnect on the recurrent matrix the cell record names (``cell.recurrent_weight``;
  Wan et al. 2013; Merity et al. 2017's weight drop): each entry is zeroed with probability
  ``rate`` (the rest scaled by ``1 / (1 - rate)``), one mask per call, i.e. the same at every
  step of the batch. Works on a cell's params or a ``Bidirectional`` pair."""
  from seqjax.recurrence.core import Bidirectional  # pylint: disable=g-import-not-at-top
  if isinstance(params, Bidirectional):
    k_fw, k_bw = jax.random.split(key)
    return Bidirectional(weight_drop(cell, params.forward, rate, key=k_fw),
                         weight_drop(cell, params.backward, rate, key=k_bw))
  if cell.recurrent_weight is None:
    raise ValueError(f"weight_drop: cell {cell.name!r} declares no recurrent matrix")
  w = getattr(params, cell.recurrent_weight)
  return dataclasses.replace(params, **{cell.recurrent_weight: dropout(w, rate, key=key)})
