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
