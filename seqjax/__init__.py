"""seqjax: recurrent sequence models in JAX, as pure functions.

Floor 1 (no Flax): ``seqjax.cells`` (one ``Cell`` record per family, the ``CELLS`` registry) and
``seqjax.recurrence`` (``unroll``, ``bidirectional``, ``stack`` with named back ends and one
``UnrollOptions`` value). ``seqjax.interop.torch`` converts PyTorch RNNs.

Importing seqjax where JAX will run on the CPU limits glibc's malloc to one arena and raises its
mmap and trim thresholds (XLA:CPU's large per-step buffers are then reused, not mapped afresh
every step, in seqjax's trainer and in a loop of the user's own; ``seqjax._malloc``;
``SEQJAX_TUNE_MALLOC=0`` leaves malloc alone).
"""

from seqjax import _malloc

_malloc.limit_arenas()  # before anything starts JAX's backend (its thread pools)
_malloc.keep_large_blocks()

from seqjax import cells  # pylint: disable=g-import-not-at-top,wrong-import-position
from seqjax.recurrence import (  # pylint: disable=wrong-import-position
    Backend, Bidirectional, UnrollOptions, bidirectional, init_bidirectional, init_stack, stack,
    unroll)

__version__ = "0.1.0"

__all__ = ["Backend", "Bidirectional", "UnrollOptions", "bidirectional", "cells",
           "init_bidirectional", "init_stack", "stack", "unroll"]
