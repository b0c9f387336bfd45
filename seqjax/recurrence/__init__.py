"""One recurrence, named back ends (floor 1: pure JAX, no Flax).

``unroll`` runs a cell record over a sequence, ``bidirectional`` both ways, ``stack`` layer on
layer; ``UnrollOptions`` carries every option that changes the computation and ``Backend``
names how the loop runs. One module per back end: ``scan`` (autodiff through ``lax.scan``),
``associative`` (linear cells), ``fused`` (hand-written backward), ``onednn`` (oneDNN's RNN
primitives on the CPU, built on first use) and ``cudnn`` (GPU LSTM stacks; import it
explicitly). Regularisers are step wrappers (``regularizers``).
"""

from seqjax.cells.base import Backend
from seqjax.recurrence.core import (MERGES, Bidirectional, bidirectional, choose_backend,
                                    init_bidirectional, init_stack, initial_carries,
                                    layer_output_size, merge_outputs, stack, unroll)
from seqjax.recurrence.options import UnrollOptions
from seqjax.recurrence.regularizers import dropout, weight_drop

__all__ = ["Backend", "Bidirectional", "MERGES", "UnrollOptions", "bidirectional",
           "choose_backend", "dropout", "init_bidirectional", "init_stack", "initial_carries",
           "layer_output_size", "merge_outputs", "stack", "unroll", "weight_drop"]
