"""Flax linen wrappers that own recurrent parameters and call the pure cells and unrolls."""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax import cells as cells_lib
from seqjax.unroll import (Bidirectional, init_bidirectional, layer_output_size, stack,
                           weight_drop)
from seqjax.cells import initializers


def cell_init_options(cell_options: Any, init_scale: Optional[float]) -> dict[str, Any]:
  """The keyword options of a cell's ``init``: ``cell_options``, with every weight and bias
  drawn U(±init_scale) when ``init_scale`` is set (Zaremba et al.)."""
  options = dict(cell_options or {})
  if init_scale is not None:
    init = initializers.scaled_uniform(init_scale)
    options.update(input_init=init, recurrent_init=init, bias_init=init)
  return options


class DeepRNN(nn.Module):
  """A stack of recurrent layers of one cell family (``seqjax.unroll.stack``).

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
    unroll, remat: passed to ``seqjax.unroll.unroll``.
    locked_dropout: the dropout between layers uses one mask per sequence (variational).
    state_dropout, zoneout: recurrent regularisers of every layer (``seqjax.unroll.unroll``).
    weight_drop: DropConnect rate on every layer's recurrent matrix (``weight_drop``).
    parallel: associative scans for the linear-recurrence cells (``mingru``, ``minlstm``,
      ``lru``).
    fused: the fused LSTM/GRU recurrence with a hand-written backward (``seqjax.fused``);
      ``None`` picks it wherever it applies, ``False`` never.
    compute_dtype: ``"bfloat16"`` (or a dtype): mixed precision on the fused path, bf16 matmul
      operands with float32 accumulation, carry and parameters.
    cudnn: run the whole stack with cuDNN's LSTM kernel (``seqjax.cudnn``; GPU only, plain LSTM,
      concatenated directions, no resets, residual or regulariser while training).

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
  unroll: int = 1
  remat: bool = False
  locked_dropout: bool = False
  state_dropout: float = 0.0
  zoneout: Any = 0.0
  weight_drop: float = 0.0
  parallel: bool = False
  fused: Optional[bool] = None
  compute_dtype: Any = None
  cudnn: bool = False

  def _cell(self):
    return cells_lib.get(self.cell)

  def _options(self) -> dict[str, Any]:
    return cell_init_options(self.cell_options, self.init_scale)

  def _layers(self, input_size: int) -> list[Any]:
    cell, options = self._cell(), self._options()
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

    ``lengths`` and ``resets`` (segment starts, for packed rows) as in ``seqjax.unroll.unroll``.
    Dropout needs the ``"dropout"`` RNG collection unless ``deterministic``.
    """
    layers = self._layers(xs.shape[-1])
    if self.cudnn:
      from seqjax import cudnn  # pylint: disable=g-import-not-at-top
      training_reg = not deterministic and (
          (self.dropout_rate > 0 and self.num_layers > 1) or self.state_dropout > 0
          or self.weight_drop > 0 or any(r > 0 for r in jax.tree.leaves(self.zoneout)))
      if (self.cell != "lstm" or self.merge != "concat" or self.residual or resets is not None
          or training_reg):
        raise ValueError("DeepRNN: cudnn=True needs cell='lstm', merge='concat', no residual, "
                         "no resets and no dropout or recurrent regulariser while training")
      return cudnn.lstm_stack(layers, xs, carry=carry, lengths=lengths)
    use_dropout = self.dropout_rate > 0 and not deterministic and self.num_layers > 1
    regularize = not deterministic and (self.state_dropout > 0 or any(
        r > 0 for r in jax.tree.leaves(self.zoneout)))
    key = self.make_rng("dropout") if (use_dropout or regularize) else None
    if self.weight_drop > 0 and not deterministic:
      drop_key = jax.random.fold_in(self.make_rng("dropout"), 1)
      layers = [weight_drop(layer, self.weight_drop, key=jax.random.fold_in(drop_key, l))
                for l, layer in enumerate(layers)]
    return stack(self._cell(), layers, xs, carry=carry, lengths=lengths, resets=resets,
                 merge=self.merge, dropout_rate=self.dropout_rate, key=key,
                 deterministic=deterministic or not (use_dropout or regularize),
                 residual=self.residual, unroll=self.unroll, remat=self.remat,
                 locked_dropout=self.locked_dropout, state_dropout=self.state_dropout,
                 zoneout=self.zoneout, parallel=self.parallel, fused=self.fused,
                 compute_dtype=None if self.compute_dtype is None
                 else jnp.dtype(self.compute_dtype))


def initial_carry(cell: str, params: Any, batch_shape: Any) -> list[Any]:
  """Zero carries of a ``DeepRNN``'s layers, from its parameter dict (``layer_0``, ...)."""
  cell_mod = cells_lib.get(cell)
  out = []
  for l in range(len(params)):
    layer = params[f"layer_{l}"]
    if isinstance(layer, Bidirectional):
      out.append(Bidirectional(cell_mod.initial_carry(layer.forward, batch_shape),
                               cell_mod.initial_carry(layer.backward, batch_shape)))
    else:
      out.append(cell_mod.initial_carry(layer, batch_shape))
  return out
