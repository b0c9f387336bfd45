"""Recurrent cells as pure functions over explicit parameter pytrees (no Flax).

Each module is a cell: ``init``, ``initial_carry``, ``project``, ``step``, ``input_size``,
``output_size``. ``CELLS`` is the registry a config names a cell by.
"""

from seqjax.cells import gru, lstm, simple
from seqjax.cells.base import Cell
from seqjax.cells.gru import GRUCarry, GRUParams
from seqjax.cells.lstm import LSTMCarry, LSTMParams
from seqjax.cells.simple import RNNCarry, RNNParams

CELLS = {"rnn": simple, "lstm": lstm, "gru": gru}


def get(name: str):
  """The cell module registered as ``name`` (``"rnn"``, ``"lstm"``, ``"gru"``)."""
  if name not in CELLS:
    raise ValueError(f"unknown cell {name!r}; expected one of {sorted(CELLS)}")
  return CELLS[name]


__all__ = ["CELLS", "Cell", "GRUCarry", "GRUParams", "LSTMCarry", "LSTMParams", "RNNCarry",
           "RNNParams", "get", "gru", "lstm", "simple"]
