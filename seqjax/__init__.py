"""seqjax: recurrent sequence models in JAX, as pure functions.

Floor 1 (no Flax): ``seqjax.cells`` (one ``Cell`` record per family, the ``CELLS`` registry) and
``seqjax.recurrence`` (``unroll``, ``bidirectional``, ``stack`` with named back ends and one
``UnrollOptions`` value). ``seqjax.interop.torch`` converts PyTorch RNNs.
"""

from seqjax import cells
from seqjax.recurrence import (Backend, Bidirectional, UnrollOptions, bidirectional,
                               init_bidirectional, init_stack, stack, unroll)

__version__ = "0.1.0"

__all__ = ["Backend", "Bidirectional", "UnrollOptions", "bidirectional", "cells",
           "init_bidirectional", "init_stack", "stack", "unroll"]
