"""Flax linen wrappers that own recurrent parameters and call the pure cells and the recurrence."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from flax import serialization
from flax.core import FrozenDict
import flax.linen as nn
import jax

from seqjax import cells as cells_lib
from seqjax.cells import base as cells_base, initializers
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


BACKENDS = tuple(b.value for b in Backend)


def check_backend(cell_name: str, backend_name: Any) -> None:
  """Whether cell ``cell_name``'s record allows back end ``backend_name``: ``ValueError`` saying
  why not (``Backend.AUTO`` always may)."""
  backends = [b.value for b in Backend]
  try:
    backend = Backend(backend_name)
  except ValueError:
    raise ValueError(f"backend must be one of {backends}; got {backend_name!r}") from None
  cell = cells_lib.get(cell_name)
  if backend == Backend.ASSOCIATIVE and cell.linear is None:
    raise ValueError(f"backend='associative' needs a linear-recurrence cell "
                     f"{sorted(cells_lib.LINEAR_CELLS)}; got cell={cell_name!r}")
  if backend == Backend.FUSED and Backend.FUSED not in cell.kernels:
    raise ValueError(f"backend='fused' needs a cell with a fused kernel "
                     f"{sorted(n for n, c in cells_lib.CELLS.items() if Backend.FUSED in c.kernels)}"
                     f"; got cell={cell_name!r}")
  if backend == Backend.ONEDNN and Backend.ONEDNN not in cell.kernels:
    raise ValueError(f"backend='onednn' needs a cell with a oneDNN primitive "
                     f"{sorted(n for n, c in cells_lib.CELLS.items() if Backend.ONEDNN in c.kernels)}"
                     f"; got cell={cell_name!r}")
  if backend == Backend.CUDNN and cell_name != "lstm":
    raise ValueError(f"backend='cudnn' needs cell='lstm'; got cell={cell_name!r}")


MERGES = ("concat", "sum")


@dataclasses.dataclass(frozen=True)
class RNNSpec:
  """Everything about the recurrent part of a model, as one frozen (hashable) value: every
  model with a recurrent part takes one (``DeepRNN(spec)``, ``RNNLM(rnn=spec)``, ...), and every
  experiment config has it as its ``model.rnn`` section, so each option works in every task.

  Attributes:
    cell: a name in ``seqjax.cells.CELLS`` (``"rnn"``, ``"lstm"``, ``"gru"``, ``"mingru"``, ...).
    hidden_size: H of every layer (per direction).
    num_layers: depth.
    bidirectional: each layer reads both directions; ``merge`` (``"concat"`` or ``"sum"``)
      combines them.
    dropout_rate: dropout between layers (not after the last), as ``torch.nn.LSTM``.
    residual: add each layer's input to its output from the second layer on.
    init_scale: if set, every weight and bias starts U(±init_scale) (Zaremba et al.); the
      cell's own structure options (e.g. ``forget_bias``) still apply.
    cell_options: keyword options of the cell's ``init`` (``peephole``, ``reset_after``,
      ``forget_bias``, ...), kept as a ``FrozenDict``.
    locked_dropout: dropout masks shared by every step of a sequence (variational; a model
      applies it to its own non-recurrent dropouts too).
    weight_drop: DropConnect rate on every layer's recurrent matrix (the cell record's
      ``recurrent_weight``).
    backend, unroll, remat, state_dropout, zoneout, compute_dtype: the ``UnrollOptions`` of every
      layer (``backend``: ``"auto"``, ``"scan"``, ``"associative"``, ``"fused"``, ``"onednn"``
      (CPU) or ``"cudnn"`` (GPU);
      ``compute_dtype="bfloat16"``: bf16 matmul operands with float32 accumulation, carry and
      parameters, on the fused kernels).

  A spec that cannot run is refused when it is made, with the field named:

  >>> RNNSpec(cell="gru", hidden_size=64, backend="fused").options().backend
  <Backend.FUSED: 'fused'>
  >>> RNNSpec(cell="rnn", backend="associative")
  Traceback (most recent call last):
  ...
  ValueError: backend='associative' needs a linear-recurrence cell ['lru', 'mingru', 'minlstm']; got cell='rnn'
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

  def __post_init__(self):
    fix = lambda name, value: object.__setattr__(self, name, value)
    fix("cell_options", FrozenDict(dict(self.cell_options or {})))
    if isinstance(self.zoneout, (list, tuple)):
      fix("zoneout", tuple(float(z) for z in self.zoneout))
    if self.compute_dtype == "":
      fix("compute_dtype", None)
    if not self.init_scale:
      fix("init_scale", None)
    if isinstance(self.backend, Backend):
      fix("backend", self.backend.value)
    if self.cell not in cells_lib.CELLS:
      raise ValueError(f"cell must be one of {sorted(cells_lib.CELLS)}; got {self.cell!r}")
    for name in ("hidden_size", "num_layers"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    if self.merge not in MERGES:
      raise ValueError(f"merge must be one of {list(MERGES)}; got {self.merge!r}")
    for name in ("dropout_rate", "weight_drop"):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}")
    self.options()  # the unroll options' own checks
    check_backend(self.cell, self.backend)

  def options(self) -> UnrollOptions:
    """The ``UnrollOptions`` every layer runs with."""
    return UnrollOptions(unroll=self.unroll, remat=self.remat, compute_dtype=self.compute_dtype,
                         backend=self.backend, state_dropout=self.state_dropout,
                         zoneout=self.zoneout)

  def init_options(self) -> dict[str, Any]:
    """The keyword options of the cell's ``init`` (``cell_init_options``)."""
    return cell_init_options(self.cell_options, self.init_scale)

  @property
  def output_size(self) -> int:
    """The size of the top layer's output (both directions with ``merge="concat"``)."""
    return self.hidden_size * (2 if self.bidirectional and self.merge == "concat" else 1)

  def replace(self, **changes: Any) -> "RNNSpec":
    return dataclasses.replace(self, **changes)

  @classmethod
  def from_config(cls, section: Any, where: str = "model.rnn") -> "RNNSpec":
    """The spec of a config section (an ``ml_collections.ConfigDict`` or a dict with the
    fields above; ``init_scale=0`` and ``compute_dtype=""`` mean unset). A bad or unknown key
    is a ``ValueError`` naming ``where.key``."""
    values = dict(section.to_dict() if hasattr(section, "to_dict") else section)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
      raise ValueError(f"{where}: unknown key(s) {unknown}; an RNN spec has {names}")
    try:
      return cls(**values)
    except (ValueError, TypeError) as e:
      raise ValueError(f"{where}.{e}") from None


class DeepRNN(nn.Module):
  """A stack of recurrent layers of one cell family, as its ``RNNSpec`` says
  (``seqjax.recurrence.stack``).

  ``backend="cudnn"`` runs the whole stack with cuDNN's LSTM kernel
  (``seqjax.recurrence.cudnn``; GPU only, plain LSTM, concatenated directions, no resets,
  residual or regulariser while training). Parameters are ``layer_{l}`` (a cell params
  dataclass or ``Bidirectional``).

  >>> import jax, jax.numpy as jnp
  >>> model = DeepRNN(RNNSpec(cell="gru", hidden_size=8, num_layers=2, bidirectional=True))
  >>> xs = jnp.ones((3, 5, 4))
  >>> params = model.init(jax.random.key(0), xs)
  >>> ys, finals = model.apply(params, xs, lengths=jnp.array([5, 2, 1]))
  >>> ys.shape, len(finals)
  ((3, 5, 16), 2)
  """
  spec: RNNSpec = RNNSpec()

  def _layers(self, input_size: int) -> list[Any]:
    spec = self.spec
    cell, options = cells_lib.get(spec.cell), spec.init_options()
    layers, size = [], input_size
    for l in range(spec.num_layers):
      if spec.bidirectional:
        make = lambda key, n=size: init_bidirectional(cell, key, n, spec.hidden_size, **options)
      else:
        make = lambda key, n=size: cell.init(key, n, spec.hidden_size, **options)
      layer = self.param(f"layer_{l}", make)
      layers.append(layer)
      size = layer_output_size(cell, layer, spec.merge)
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
    spec = self.spec
    layers = self._layers(xs.shape[-1])
    options = spec.options()
    cell = cells_lib.get(spec.cell)
    if options.backend == Backend.CUDNN:
      from seqjax.recurrence import cudnn  # pylint: disable=g-import-not-at-top
      training_reg = not deterministic and (
          (spec.dropout_rate > 0 and spec.num_layers > 1) or options.regularized
          or spec.weight_drop > 0)
      if (spec.cell != "lstm" or spec.merge != "concat" or spec.residual or resets is not None
          or training_reg):
        raise ValueError("DeepRNN: backend='cudnn' needs cell='lstm', merge='concat', no "
                         "residual, no resets and no dropout or recurrent regulariser while "
                         "training")
      return cudnn.lstm_stack(layers, xs, carry=carry, lengths=lengths)
    use_dropout = spec.dropout_rate > 0 and not deterministic and spec.num_layers > 1
    regularize = not deterministic and options.regularized
    key = self.make_rng("dropout") if (use_dropout or regularize) else None
    if spec.weight_drop > 0 and not deterministic:
      drop_key = jax.random.fold_in(self.make_rng("dropout"), 1)
      layers = [weight_drop(cell, layer, spec.weight_drop, key=jax.random.fold_in(drop_key, l))
                for l, layer in enumerate(layers)]
    return stack(cell, layers, xs, options, carry=carry, lengths=lengths, resets=resets,
                 merge=spec.merge, dropout_rate=spec.dropout_rate, key=key,
                 deterministic=deterministic or not (use_dropout or regularize),
                 residual=spec.residual, locked_dropout=spec.locked_dropout)


def initial_carry(spec: RNNSpec, params: Any, batch_shape: Any) -> list[Any]:
  """Zero carries of a ``DeepRNN``'s layers, from its spec and parameter dict (``layer_0``,
  ...)."""
  return initial_carries(cells_lib.get(spec.cell),
                         [params[f"layer_{l}"] for l in range(spec.num_layers)], batch_shape)


# ---- Flax serialization of the cells' parameter dataclasses ---------------------------------
def _to_state_dict(params: Any) -> dict[str, Any]:
  return {name: serialization.to_state_dict(getattr(params, name))
          for name in cells_base.data_fields(type(params))}


def _from_state_dict(target: Any, state: dict[str, Any]) -> Any:
  names = cells_base.data_fields(type(target))
  missing = [n for n in names if n not in state]
  if missing:
    raise ValueError(f"{type(target).__name__}: the state dict lacks {missing}")
  return dataclasses.replace(target, **{
      n: serialization.from_state_dict(getattr(target, n), state[n], name=n) for n in names})


def register_with_flax(cls: type) -> None:
  """Registers a cell's parameter dataclass with ``flax.serialization``: ``to_state_dict`` /
  ``to_bytes`` / ``msgpack_serialize`` see it as a dict of its array fields (static fields are
  the target's), so whole model parameters round-trip and ``traverse_util.flatten_dict`` of
  the state dict names every weight. Every class made with
  ``seqjax.cells.base.params_dataclass`` is registered (also ones defined later)."""
  serialization.register_serialization_state(cls, _to_state_dict, _from_state_dict,
                                             override=True)


for _cls in cells_base.PARAMS_CLASSES:
  register_with_flax(_cls)
cells_base.ON_NEW_PARAMS_CLASS.append(register_with_flax)
