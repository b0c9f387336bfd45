"""Flax linen wrappers that own recurrent parameters and call the pure cells and the recurrence."""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax

from seqjax import cells as cells_lib
from seqjax.cells import initializers
from seqjax.recurrence import (Backend, UnrollOptions, init_bidirectional,
                               initial_carries, layer_output_size, stack, weight_drop)


def cell_init_options(cell_options: Any, init_scale: Optional[float]) -> dict[str, Any]:
  """The keyword options of a cell's ``init``: ``cell_options``, with every weight and bias
  drawn U(±init_scale) when ``init_scale`` is set (Zaremba et al.)."""
  options = dict(cell_options or {})
  if init_scale is not None:
    init = initializers.scaled_uniform(init_scale)
    options.update(input_init=init, recurrent_init=init, bias_init=init)
  return options


class DeepRNN(nn.Module):
  """A stack of recurrent layers of one cell family (``seqjax.recurrence.stack``).

  Attributes:
    cell: a name in ``seqjax.cells.CELLS`` (``"rnn"``, ``"lstm"``, ``"gru"``, ``"mingru"``, ...).
    hidden_size: H of every layer.
    num_layers: depth.
    bidirectional: each layer reads both directions; ``merge`` combines them.
    dropout_rate: dropout between layers (not after the last), as ``torch.nn.LSTM``.
    residual: add each layer's input to its output from the second layer on.
    init_scale: if set, every weight and bias starts U(±init_scale) (Zaremba et al.);
      the cell's own structure options (e.g. ``forget_bias``) still apply.
    cell_options: keyword options of the cell's ``init`` (``peephole``, ``reset_after``, ...).
    locked_dropout: the dropout between layers uses one mask per sequence (variational).
    weight_drop: DropConnect rate on every layer's recurrent matrix (the cell record's
      ``recurrent_weight``).
    backend: ``"auto"``, ``"scan"``, ``"associative"``, ``"fused"`` or ``"cudnn"``
      (``seqjax.cells.Backend``). ``cudnn`` runs the whole stack with cuDNN's LSTM kernel
      (``seqjax.recurrence.cudnn``; GPU only, plain LSTM, concatenated directions, no resets,
      residual or regulariser while training).
    unroll, remat, state_dropout, zoneout, compute_dtype: the ``UnrollOptions`` of every layer
      (``compute_dtype="bfloat16"``: bf16 matmul operands with float32 accumulation, carry and
      parameters, on the fused kernels).

  Parameters are ``layer_{l}`` (a cell params dataclass or ``Bidirectional``).
  """
  cell: str = "lstm"
  hidden_size: int = 128
  num_layers: int = 1
  bidirectional: bool = False
  merge: str = "concat"
  dropout_rate: float = 0.0
  residual: bool = False
  init_scale: Optional[float] = None
  cell_options: Any = None
  locked_dropout: bool = False
  weight_drop: float = 0.0
  backend: str = "auto"
  unroll: int = 1
  remat: bool = False
  state_dropout: float = 0.0
  zoneout: Any = 0.0
  compute_dtype: Any = None

  def _cell(self):
    return cells_lib.get(self.cell)

  def options(self) -> UnrollOptions:
    return UnrollOptions(unroll=self.unroll, remat=self.remat, compute_dtype=self.compute_dtype,
                         backend=self.backend, state_dropout=self.state_dropout,
                         zoneout=self.zoneout)

  def _layers(self, input_size: int) -> list[Any]:
    cell, options = self._cell(), cell_init_options(self.cell_options, self.init_scale)
    layers, size = [], input_size
    for l in range(self.num_layers):
      if self.bidirectional:
        make = lambda key, n=size: init_bidirectional(cell, key, n, self.hidden_size, **options)
      else:
        make = lambda key, n=size: cell.init(key, n, self.hidden_size, **options)
      layer = self.param(f"layer_{l}", make)
      layers.append(layer)
      size = layer_output_size(cell, layer, self.merge)
    return layers

  @nn.compact
  def __call__(self, xs: jax.Array, carry: Any = None, *, lengths: Optional[jax.Array] = None,
               resets: Optional[jax.Array] = None,
               deterministic: bool = True) -> tuple[jax.Array, list[Any]]:
    """``xs: [*B, T, I]`` -> ``(ys: [*B, T, O], final carries, one per layer)``.

    ``lengths`` and ``resets`` (segment starts, for packed rows) as in
    ``seqjax.recurrence.unroll``. Dropout needs the ``"dropout"`` RNG collection unless
    ``deterministic``.
    """
    layers = self._layers(xs.shape[-1])
    options = self.options()
    cell = self._cell()
    if options.backend == Backend.CUDNN:
      from seqjax.recurrence import cudnn  # pylint: disable=g-import-not-at-top
      training_reg = not deterministic and (
          (self.dropout_rate > 0 and self.num_layers > 1) or options.regularized
          or self.weight_drop > 0)
      if (self.cell != "lstm" or self.merge != "concat" or self.residual or resets is not None
          or training_reg):
        raise ValueError("DeepRNN: backend='cudnn' needs cell='lstm', merge='concat', no "
                         "residual, no resets and no dropout or recurrent regulariser while "
                         "training")
      return cudnn.lstm_stack(layers, xs, carry=carry, lengths=lengths)
    use_dropout = self.dropout_rate > 0 and not deterministic and self.num_layers > 1
    regularize = not deterministic and options.regularized
    key = self.make_rng("dropout") if (use_dropout or regularize) else None
    if self.weight_drop > 0 and not deterministic:
      drop_key = jax.random.fold_in(self.make_rng("dropout"), 1)
      layers = [weight_drop(cell, layer, self.weight_drop, key=jax.random.fold_in(drop_key, l))
                for l, layer in enumerate(layers)]
    return stack(cell, layers, xs, options, carry=carry, lengths=lengths, resets=resets,
                 merge=self.merge, dropout_rate=self.dropout_rate, key=key,
                 deterministic=deterministic or not (use_dropout or regularize),
                 residual=self.residual, locked_dropout=self.locked_dropout)


BACKENDS = tuple(b.value for b in Backend)


def check_backend(model: Any) -> None:
  """A config's ``model.backend`` (and ``model.compute_dtype`` when present) against its
  ``model.cell``'s record: ``ValueError`` naming the key, before anything is built."""
  backends = [b.value for b in Backend]
  if model.backend not in backends:
    raise ValueError(f"model.backend must be one of {backends}; got {model.backend!r}")
  cell = cells_lib.get(model.cell)
  backend = Backend(model.backend)
  if backend == Backend.ASSOCIATIVE and cell.linear is None:
    raise ValueError(f"model.backend='associative' needs a linear-recurrence cell "
                     f"{list(cells_lib.LINEAR_CELLS)}; got model.cell={model.cell!r}")
  if backend == Backend.FUSED and Backend.FUSED not in cell.kernels:
    raise ValueError(f"model.backend='fused' needs a cell with a fused kernel "
                     f"{[n for n, c in cells_lib.CELLS.items() if Backend.FUSED in c.kernels]}; "
                     f"got model.cell={model.cell!r}")
  if backend == Backend.CUDNN and model.cell != "lstm":
    raise ValueError(f"model.backend='cudnn' needs model.cell='lstm'; got {model.cell!r}")


def initial_carry(cell: str, params: Any, batch_shape: Any) -> list[Any]:
  """Zero carries of a ``DeepRNN``'s layers, from its parameter dict (``layer_0``, ...)."""
  return initial_carries(cells_lib.get(cell), [params[f"layer_{l}"] for l in range(len(params))],
                         batch_shape)
