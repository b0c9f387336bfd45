"""The training state: everything a run needs to continue exactly where it stopped."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  """``step`` (int32 scalar), ``params``, ``opt_state``, ``key`` (the run's base PRNG key;
  step ``s`` uses ``fold_in(key, s)``) and ``carry`` (recurrent state threaded between
  batches, e.g. an LM's truncated-BPTT state; ``None`` when unused)."""
  step: jax.Array
  params: Any
  opt_state: Any
  key: jax.Array
  carry: Any = None


@flax.struct.dataclass
class StatefulTrainState(TrainState):
  """A ``TrainState`` whose model has variables the optimizer does not train: ``model_state``,
  e.g. batch normalisation's running statistics as Flax collections ``{"batch_stats": ...}``.
  (A separate class, so that the checkpoints of models without state keep their layout.)"""
  model_state: Any = None


def variables(state: Any) -> Any:
  """What evaluation and inference apply the model with: ``state.params`` alone, or, for a
  model with state, the Flax variables ``{"params": params, **model_state}``."""
  if getattr(state, "model_state", None) is None:
    return state.params
  return {"params": state.params, **state.model_state}
