"""Recurrent cells as pure functions over explicit parameter pytrees (no Flax).

Each module is a cell: ``init``, ``initial_carry``, ``project``, ``step``, ``input_size``,
``output_size``. ``CELLS`` is the registry a config names a cell by.
"""

from seqjax.cells import gru, lru, lstm, minrnn, simple
from seqjax.cells.base import Cell
from seqjax.cells.gru import GRUCarry, GRUParams
from seqjax.cells.lru import LRUCarry, LRUParams
from seqjax.cells.lstm import LSTMCarry, LSTMParams
from seqjax.cells.minrnn import MinCarry, MinParams
from seqjax.cells.simple import RNNCarry, RNNParams

CELLS = {"rnn": simple, "lstm": lstm, "gru": gru, "mingru": minrnn.mingru,
         "minlstm": minrnn.minlstm, "lru": lru}
LINEAR_CELLS = ("mingru", "minlstm", "lru")  # linear recurrences: unroll(parallel=True) applies


def get(name: str):
  """The cell registered as ``name`` (``"rnn"``, ``"lstm"``, ``"gru"``, ``"mingru"``,
  ``"minlstm"``, ``"lru"``)."""
  if name not in CELLS:
    raise ValueError(f"unknown cell {name!r}; expected one of {sorted(CELLS)}")
  return CELLS[name]


__all__ = ["CELLS", "Cell", "GRUCarry", "GRUParams", "LINEAR_CELLS", "LRUCarry", "LRUParams",
           "LSTMCarry", "LSTMParams", "MinCarry", "MinParams", "RNNCarry", "RNNParams", "get", "gru",
           "lru", "lstm", "minrnn", "simple"]
