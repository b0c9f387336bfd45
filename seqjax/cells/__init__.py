"""Recurrent cells as pure functions over explicit parameter pytrees (no Flax).

Each family module defines its math and exports one ``Cell`` record (``seqjax.cells.base``):
its functions and its declared capabilities. ``CELLS`` is the one registry a config names a
cell by; adding a cell is one module, one test file and one line here.
"""

from seqjax.cells import gru, lru, lstm, minrnn, simple
from seqjax.cells.base import Backend, Cell, Kernel, LinearForm
from seqjax.cells.gru import GRUCarry, GRUParams
from seqjax.cells.lru import LRUCarry, LRUParams
from seqjax.cells.lstm import LSTMCarry, LSTMParams
from seqjax.cells.minrnn import MinCarry, MinParams
from seqjax.cells.simple import RNNCarry, RNNParams

CELLS = {cell.name: cell for cell in (simple.CELL, lstm.CELL, gru.CELL, minrnn.MINGRU,
                                      minrnn.MINLSTM, lru.CELL)}
# Linear recurrences, read off the records: Backend.ASSOCIATIVE applies.
LINEAR_CELLS = tuple(name for name, cell in CELLS.items() if cell.linear is not None)


def get(name: str) -> Cell:
  """The cell registered as ``name`` (``"rnn"``, ``"lstm"``, ``"gru"``, ``"mingru"``,
  ``"minlstm"``, ``"lru"``).

  >>> cell = get("gru")
  >>> cell.gates, Backend.FUSED in cell.kernels, cell.linear is None
  (('r', 'z', 'n'), True, True)
  """
  if name not in CELLS:
    raise ValueError(f"unknown cell {name!r}; expected one of {sorted(CELLS)}")
  return CELLS[name]


__all__ = ["Backend", "CELLS", "Cell", "Kernel", "LinearForm", "GRUCarry", "GRUParams", "LINEAR_CELLS", "LRUCarry", "LRUParams",
           "LSTMCarry", "LSTMParams", "MinCarry", "MinParams", "RNNCarry", "RNNParams", "get", "gru",
           "lru", "lstm", "minrnn", "simple"]
