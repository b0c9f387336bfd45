"""seqjax: recurrent sequence models in JAX, as pure functions.

Floor 1 (this package's top level, no Flax): ``seqjax.cells`` (cells) and ``seqjax.unroll``
(``unroll``, ``bidirectional``, ``stack``). ``seqjax.interop.torch`` converts PyTorch RNNs.
"""

from seqjax import cells
from seqjax.unroll import (Bidirectional, bidirectional, init_bidirectional, init_stack, stack,
                           unroll)

__version__ = "0.1.0"

__all__ = ["Bidirectional", "bidirectional", "cells", "init_bidirectional", "init_stack",
           "stack", "unroll"]
