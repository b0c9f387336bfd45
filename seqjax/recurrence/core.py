"""One recurrence: ``unroll`` a cell over a sequence, ``bidirectional``, ``stack``.

Arrays are batch-major at the API, ``xs: [*B, T, I]`` (``B`` may be several axes or none, so
``vmap`` over an unbatched call works), and time-major inside. The input projection of every
step is computed before the loop as one matmul (``cell.project``); the loop body only does the
recurrent half (``cell.step``).

How the loop runs is a ``Backend`` (``seqjax.cells.base``), read with the other options from one
``UnrollOptions`` value: ``scan`` (autodiff through ``lax.scan``, every option), ``associative``
(linear cells), ``fused`` (the cell record's hand-written kernel), ``onednn`` (oneDNN's RNN
primitives on the CPU, ``seqjax.recurrence.onednn``) or ``auto`` (``onednn`` on the CPU where the
extension is built and the cell and options allow it, else ``fused`` where the record has the
kernel and the options allow it, else ``scan``). Asking for a back end that cannot run says why.

Variable lengths: with ``lengths: [*B]`` (ints in ``[0, T]``, right padding), step ``t`` of a
sequence is valid iff ``t < length``. Padded steps leave the carry unchanged and emit zeros, so
the final carry is each sequence's state at its own last step. With ``reverse`` the scan runs
from ``T-1`` down to ``0``; the padded tail is skipped before the first valid step, which
reverses each sequence within its own length, as ``torch.nn.utils.rnn.pack_padded_sequence``
does.

Carry in, carry out: passing the final carry of one window as ``carry`` of the next is
truncated BPTT (wrap it in ``jax.lax.stop_gradient`` to cut the gradient at the edge).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from seqjax import masks
from seqjax.cells.base import Backend, Cell, check_features
from seqjax.recurrence import associative, regularizers, scan
from seqjax.recurrence.options import UnrollOptions, resolve

MERGES = ("concat", "sum", "mean")


class Bidirectional(NamedTuple):
  """Parameters (or carries) of the two directions of a bidirectional layer."""
  forward: Any
  backward: Any


def _check_lengths(where: str, lengths: Any, batch_shape: tuple[int, ...], T: int) -> jax.Array:
  lengths = jnp.asarray(lengths)
  if lengths.shape != batch_shape:
    raise ValueError(f"{where}: lengths must have the batch shape of xs, {batch_shape}; "
                     f"got shape {tuple(lengths.shape)}")
  if not jnp.issubdtype(lengths.dtype, jnp.integer):
    raise ValueError(f"{where}: lengths must be integers; got dtype {lengths.dtype}")
  if not isinstance(lengths, jax.core.Tracer) and lengths.size:
    lo, hi = int(np.min(lengths)), int(np.max(lengths))
    if lo < 0 or hi > T:
      raise ValueError(f"{where}: lengths must lie in [0, T={T}] (T is axis -2 of xs); "
                       f"got values from {lo} to {hi}")
  return lengths


def _check_carry(where: str, carry: Any, expected: Any) -> None:
  got_def, want_def = jax.tree.structure(carry), jax.tree.structure(expected)
  if got_def != want_def:
    raise ValueError(f"{where}: carry has structure {got_def}; expected {want_def}")
  for got, want in zip(jax.tree.leaves(carry), jax.tree.leaves(expected)):
    if tuple(jnp.shape(got)) != tuple(want.shape):
      shapes = jax.tree.map(lambda a: tuple(a.shape), expected)
      raise ValueError(f"{where}: carry shapes {jax.tree.map(jnp.shape, carry)} do not match "
                       f"the expected {shapes} (batch shape of xs + feature size)")


def _check_resets(where: str, resets: Any, batch_shape: tuple[int, ...], T: int) -> jax.Array:
  resets = jnp.asarray(resets)
  if resets.shape != batch_shape + (T,):
    raise ValueError(f"{where}: resets must have shape [*batch, T] = {batch_shape + (T,)}; got "
                     f"{tuple(resets.shape)}")
  return resets.astype(bool)


def _fused_obstacles(cell: Cell, params: Any, options: UnrollOptions, training: bool,
                     use_zoneout: bool, perturb: Any) -> list[str]:
  """Why the cell's fused kernel cannot run here (empty: it can)."""
  reasons = []
  kernel = cell.kernels.get(Backend.FUSED)
  if kernel is None:
    reasons.append(f"{cell.name} has no fused form")
  else:
    unsupported = kernel.unsupported(params)
    if unsupported:
      reasons.append(f"{cell.name} with these options has no fused form ({unsupported})")
  if training or use_zoneout:
    reasons.append("state dropout and zoneout need the scan")
  if perturb is not None:
    reasons.append("perturb needs the scan")
  if options.remat:
    reasons.append("remat needs the scan")
  return reasons


def _onednn_obstacles(cell: Cell, params: Any, options: UnrollOptions, training: bool,
                      use_zoneout: bool, perturb: Any, lengths: Any, resets: Any,
                      xs_dtype: Any) -> list[str]:
  """Why the oneDNN back end cannot run here (empty: it can)."""
  from seqjax.recurrence import onednn  # pylint: disable=g-import-not-at-top
  del lengths  # ragged batches run too (seqjax.recurrence.onednn.run)
  reasons = []
  kernel = cell.kernels.get(Backend.ONEDNN)
  if kernel is None:
    return [f"{cell.name} has no oneDNN primitive (lstm, gru and rnn have)"]
  unsupported = kernel.unsupported(params)
  if unsupported:
    reasons.append(unsupported)
  if jnp.dtype(xs_dtype) != jnp.float32:
    reasons.append(f"oneDNN runs float32 inputs; got {jnp.dtype(xs_dtype)}")
  if training or use_zoneout:
    reasons.append("state dropout and zoneout need the scan")
  for what, on in (("perturb", perturb is not None), ("resets", resets is not None),
                   ("remat", options.remat), ("compute_dtype", options.compute_dtype is not None)):
    if on:
      reasons.append(f"{what} is not an option of the oneDNN back end")
  if not reasons:
    why = onednn.unavailable_reason()
    if why:
      reasons.append(why)
  return reasons


def choose_backend(cell: Cell, params: Any, options: UnrollOptions, *, training: bool = False,
                   use_zoneout: bool = False, perturb: Any = None, lengths: Any = None,
                   resets: Any = None, xs_dtype: Any = jnp.float32,
                   batch_size: Optional[int] = None) -> Backend:
  """The back end ``unroll`` runs (``AUTO`` resolved); ``ValueError`` says why a requested one
  cannot run. ``batch_size`` (sequences in the batch; ``None``: unknown) lets ``AUTO`` pass over
  a kernel that is slower than the fused path at that size (``Kernel.worthwhile``)."""
  where, requested = "unroll", options.backend
  if requested == Backend.CUDNN:
    raise ValueError(f"{where}: backend='cudnn' runs whole LSTM stacks "
                     "(seqjax.recurrence.cudnn.lstm_stack, or DeepRNN with backend='cudnn'), "
                     "not one unroll")
  if requested == Backend.ASSOCIATIVE:
    if perturb is not None:
      raise ValueError(f"{where}: perturb needs the sequential scan, not backend='associative'")
    if cell.linear is None:
      raise ValueError(f"{where}: backend='associative' needs a linear-recurrence cell (minGRU, "
                       f"minLSTM, LRU); {cell.name} is not one")
    if training or use_zoneout:
      raise ValueError(f"{where}: backend='associative' does not take state_dropout or zoneout")
    return Backend.ASSOCIATIVE
  if requested == Backend.ONEDNN or (requested == Backend.AUTO and Backend.ONEDNN in cell.kernels
                                     and _onednn_auto()):
    blocked = _onednn_obstacles(cell, params, options, training, use_zoneout, perturb, lengths,
                                resets, xs_dtype)
    if requested == Backend.ONEDNN:
      if blocked:
        raise ValueError(f"{where}: backend='onednn' but {'; '.join(blocked)}")
      return Backend.ONEDNN
    if not blocked and _worthwhile(cell, params, Backend.ONEDNN, batch_size):
      return Backend.ONEDNN
  reasons = _fused_obstacles(cell, params, options, training, use_zoneout, perturb)
  if requested == Backend.FUSED and reasons:
    raise ValueError(f"{where}: backend='fused' but {'; '.join(reasons)}")
  if options.compute_dtype is not None and (reasons or requested == Backend.SCAN):
    raise ValueError(f"{where}: compute_dtype needs the fused path (LSTM without projection "
                     f"or layer norm, or GRU); here {'; '.join(reasons) or 'backend=scan'}")
  return Backend.FUSED if not reasons and requested != Backend.SCAN else Backend.SCAN


def _worthwhile(cell: Cell, params: Any, backend: Backend, batch_size: Optional[int]) -> bool:
  kernel = cell.kernels[backend]
  if kernel.worthwhile is None or batch_size is None:
    return True
  return bool(kernel.worthwhile(int(batch_size), int(cell.hidden_size(params))))


def _onednn_auto() -> bool:
  """``auto`` may consider oneDNN: enabled, on the CPU, and not traced for a batch split over
  several devices (XLA cannot partition the FFI call; it would gather the whole batch onto
  every device: ``seqjax.parallel.tracing_sharded``)."""
  from seqjax import parallel  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import onednn  # pylint: disable=g-import-not-at-top
  return (onednn.auto_enabled() and jax.default_backend() == "cpu"
          and parallel.batch_shards() == 1)


def unroll(cell: Cell, params: Any, xs: jax.Array, options: Optional[UnrollOptions] = None, *,
           carry: Any = None, lengths: Optional[jax.Array] = None,
           resets: Optional[jax.Array] = None, key: Optional[jax.Array] = None,
           deterministic: bool = True, perturb: Optional[jax.Array] = None,
           **overrides: Any) -> tuple[jax.Array, Any]:
  """Runs ``cell`` over ``xs``.

  Args:
    cell: a cell record (``seqjax.cells.CELLS[name]``, ``seqjax.cells.lstm.CELL``, ...).
    params: the cell's parameters.
    xs: ``[*B, T, I]`` inputs.
    options: an ``UnrollOptions`` (reverse, unroll, remat, compute_dtype, backend,
      state_dropout, zoneout); keyword ``overrides`` replace its fields
      (``unroll(cell, p, xs, reverse=True)``).
    carry: initial carry (batch shape ``B``); zeros when ``None``.
    lengths: ``[*B]`` valid lengths, or ``None`` for full sequences. Checked when concrete;
      under ``jit`` values outside ``[0, T]`` behave as if clipped.
    resets: ``[*B, T]`` bools, True where a new segment starts: the carry entering step ``t``
      is the initial carry (``carry``, or zeros) again, so several sequences packed into one
      row are read as if run separately. With ``reverse`` the reset happens entering step
      ``t`` when ``t + 1`` starts a segment, so each segment is read backwards on its own.
    key, deterministic: the PRNG key of state dropout and zoneout (needed when training with
      either); ``deterministic=True`` is evaluation (dropout off, zoneout in expectation).
    perturb: ``[*B, T, O]`` added to each step's output ``h_t`` (and to the carry's ``h``)
      before the next step reads it. Zeros change nothing; the gradient of a loss with respect
      to them is ``∂L/∂h_t`` for every ``t`` at once (``seqjax.diagnostics``).

  Returns:
    ``(ys, final_carry)``: ``ys: [*B, T, O]`` with zeros at padded steps, and the carry at each
    sequence's true end.

  >>> import jax, jax.numpy as jnp
  >>> from seqjax.cells import lstm
  >>> params = lstm.CELL.init(jax.random.PRNGKey(0), 3, 5)
  >>> ys, final = unroll(lstm.CELL, params, jnp.ones((2, 7, 3)), lengths=jnp.array([7, 4]))
  >>> ys.shape, bool(jnp.all(ys[1, 4:] == 0))
  ((2, 7, 5), True)
  """
  where = "unroll"
  options = resolve(options, overrides)
  xs = jnp.asarray(xs)
  if xs.ndim < 2:
    raise ValueError(f"{where}: xs must have shape [*batch, T, input_size]; got {xs.shape}")
  batch_shape, T = tuple(xs.shape[:-2]), xs.shape[-2]
  initial = cell.initial_carry(params, batch_shape)
  if carry is None:
    carry = initial
  else:
    _check_carry(where, carry, initial)
    carry = jax.tree.map(lambda c, z: jnp.asarray(c, z.dtype), carry, initial)
  if lengths is not None:
    lengths = _check_lengths(where, lengths, batch_shape, T)
  if resets is not None:
    resets = _check_resets(where, resets, batch_shape, T)
    if options.reverse:  # entering step t backwards, the segment that t + 1 starts has just ended
      resets = jnp.concatenate([resets[..., 1:], jnp.zeros_like(resets[..., :1])], axis=-1)
    resets = jnp.moveaxis(resets, -1, 0)  # [T, *B]

  zone_rates = regularizers.zoneout_rates(where, options.zoneout, carry)
  use_zoneout = any(r > 0 for r in zone_rates)
  training = not deterministic and (options.state_dropout > 0 or use_zoneout)
  if training and key is None:
    raise ValueError(f"{where}: state_dropout / zoneout need key= when not deterministic")
  backend = choose_backend(cell, params, options, training=training, use_zoneout=use_zoneout,
                           perturb=perturb, lengths=lengths, resets=resets, xs_dtype=xs.dtype,
                           batch_size=math.prod(batch_shape))
  if backend == Backend.ONEDNN and T > 0 and all(batch_shape):
    check_features(f"{cell.name}.project", xs, cell.input_size(params))  # oneDNN projects
    ys, final = cell.kernels[Backend.ONEDNN].run(params, jnp.moveaxis(xs, -2, 0), carry,
                                                reverse=options.reverse, lengths=lengths)
    return jnp.moveaxis(ys, 0, -2), final
  if backend == Backend.ONEDNN:  # an empty batch or sequence: nothing for oneDNN to run
    backend = Backend.FUSED if not _fused_obstacles(cell, params, options, training, use_zoneout,
                                                    perturb) else Backend.SCAN

  kernel = cell.kernels.get(Backend.FUSED) if backend == Backend.FUSED else None
  if options.compute_dtype is not None:  # one large matmul in compute_dtype, float32 sums
    projected = kernel.project(params, xs, options.compute_dtype)
  else:
    projected = cell.project(params, xs)
  projected = jnp.moveaxis(projected, -2, 0)  # [T, *B, G]
  valid = None
  if lengths is not None and backend != Backend.SCAN:
    valid = masks.length_mask(lengths, T, time_major=True)

  if backend == Backend.ASSOCIATIVE:
    ys, final = associative.run(cell.linear, params, projected, carry, valid, resets,
                                options.reverse)
  elif backend == Backend.FUSED:
    ys, final = kernel.run(params, projected, carry, valid=valid, resets=resets,
                           reverse=options.reverse, unroll=options.unroll,
                           compute_dtype=options.compute_dtype)
  else:
    step = regularizers.cell_step(cell, params, remat=options.remat)
    step_keys = jnp.zeros((T, 2), jnp.uint32)  # a scanned placeholder unless zoneout trains
    if training:
      key_mask, key_zone = jax.random.split(key)
      if options.state_dropout > 0:
        keep = jax.random.bernoulli(key_mask, 1.0 - options.state_dropout, carry.h.shape)
        step = regularizers.with_state_dropout(
            step, keep.astype(carry.h.dtype) / (1.0 - options.state_dropout))
      if use_zoneout:
        step_keys = jax.random.split(key_zone, T)
    if use_zoneout:
      step = regularizers.with_zoneout(step, zone_rates, deterministic=deterministic,
                                       training=training)
    if perturb is not None:
      step = regularizers.with_perturbation(step)
      perturb = jnp.moveaxis(jnp.asarray(perturb), -2, 0)
    ys, final = scan.run(step, projected, carry, lengths=lengths, resets=resets,
                         step_keys=step_keys, perturb=perturb, reverse=options.reverse,
                         unroll=options.unroll)
  return jnp.moveaxis(ys, 0, -2), final


def merge_outputs(ys_fw: jax.Array, ys_bw: jax.Array, merge: str) -> jax.Array:
  """Combines the two directions' outputs: ``concat`` on features, ``sum`` or ``mean``."""
  if merge == "concat":
    return jnp.concatenate([ys_fw, ys_bw], axis=-1)
  if merge == "sum":
    return ys_fw + ys_bw
  if merge == "mean":
    return 0.5 * (ys_fw + ys_bw)
  raise ValueError(f"merge must be one of {list(MERGES)}; got {merge!r}")


def init_bidirectional(cell: Cell, key: jax.Array, input_size: int, hidden_size: int,
                       **options: Any) -> Bidirectional:
  """Independent parameters for the two directions (``key`` is split in two)."""
  k_fw, k_bw = jax.random.split(key)
  return Bidirectional(cell.init(k_fw, input_size, hidden_size, **options),
                       cell.init(k_bw, input_size, hidden_size, **options))


def bidirectional(cell: Cell, params: Bidirectional, xs: jax.Array,
                  options: Optional[UnrollOptions] = None, *, carry: Any = None,
                  lengths: Optional[jax.Array] = None, resets: Optional[jax.Array] = None,
                  merge: str = "concat", key: Optional[jax.Array] = None,
                  deterministic: bool = True, **overrides: Any) -> tuple[jax.Array, Bidirectional]:
  """A forward and a (length-aware) reverse unroll of ``xs``, outputs merged per step.

  ``params`` and ``carry`` are ``Bidirectional(forward, backward)``. Returns
  ``(ys, Bidirectional(final_forward, final_backward))``; ``ys`` is ``[*B, T, 2*O]`` for
  ``concat`` and ``[*B, T, O]`` for ``sum``/``mean``.
  """
  options = resolve(options, overrides)
  if merge not in MERGES:
    raise ValueError(f"bidirectional: merge must be one of {list(MERGES)}; got {merge!r}")
  if not isinstance(params, Bidirectional):
    raise ValueError("bidirectional: params must be a seqjax.recurrence.Bidirectional(forward, "
                     f"backward); got {type(params).__name__}")
  c_fw, c_bw = (None, None) if carry is None else carry
  k_fw, k_bw = (None, None) if key is None else jax.random.split(key)
  common = dict(lengths=lengths, resets=resets, deterministic=deterministic)
  ys_fw, f_fw = unroll(cell, params.forward, xs, options.replace(reverse=False), carry=c_fw,
                       key=k_fw, **common)
  ys_bw, f_bw = unroll(cell, params.backward, xs, options.replace(reverse=True), carry=c_bw,
                       key=k_bw, **common)
  return merge_outputs(ys_fw, ys_bw, merge), Bidirectional(f_fw, f_bw)


def layer_output_size(cell: Cell, layer_params: Any, merge: str = "concat") -> int:
  """Feature size of one (possibly bidirectional) layer's output."""
  if isinstance(layer_params, Bidirectional):
    size = cell.output_size(layer_params.forward)
    return 2 * size if merge == "concat" else size
  return cell.output_size(layer_params)


def init_stack(cell: Cell, key: jax.Array, input_size: int, hidden_size: int, num_layers: int,
               *, bidirectional: bool = False, merge: str = "concat",
               **options: Any) -> list[Any]:
  """Per-layer parameters of a deep RNN: layer ``l`` reads layer ``l-1``'s output."""
  if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
    raise ValueError(f"init_stack: num_layers must be a positive int; got {num_layers!r}")
  if merge not in MERGES:
    raise ValueError(f"init_stack: merge must be one of {list(MERGES)}; got {merge!r}")
  layers = []
  size = input_size
  for k in jax.random.split(key, num_layers):
    if bidirectional:
      layer = init_bidirectional(cell, k, size, hidden_size, **options)
    else:
      layer = cell.init(k, size, hidden_size, **options)
    layers.append(layer)
    size = layer_output_size(cell, layer, merge)
  return layers


def stack(cell: Cell, params: Sequence[Any], xs: jax.Array,
          options: Optional[UnrollOptions] = None, *, carry: Optional[Sequence[Any]] = None,
          lengths: Optional[jax.Array] = None, resets: Optional[jax.Array] = None,
          merge: str = "concat", dropout_rate: float = 0.0, key: Optional[jax.Array] = None,
          deterministic: bool = False, residual: bool = False, locked_dropout: bool = False,
          **overrides: Any) -> tuple[jax.Array, list[Any]]:
  """A deep RNN: layer ``l`` unrolls over layer ``l-1``'s outputs.

  Args:
    params: one entry per layer, a cell's params or ``Bidirectional`` (see ``init_stack``).
    options: the ``UnrollOptions`` of every layer (keyword ``overrides`` replace fields); state
      dropout and zoneout get a key of their own per layer.
    carry: ``None`` or one initial carry per layer (``Bidirectional`` for bidirectional layers).
    dropout_rate: dropout on each layer's output before the next layer (not after the last), as
      ``torch.nn.LSTM(dropout=...)``. Needs ``key`` unless ``deterministic``.
    locked_dropout: that dropout with one mask per sequence (variational, ``dropout``).
    residual: add each layer's input to its output from the second layer on (shapes must agree).
    Other arguments as in ``unroll`` / ``bidirectional``.

  Returns:
    ``(ys, final_carries)`` with one final carry per layer.
  """
  where = "stack"
  options = resolve(options, overrides)
  if not params:
    raise ValueError(f"{where}: params must hold at least one layer")
  if not 0.0 <= dropout_rate < 1.0:
    raise ValueError(f"{where}: dropout_rate must be in [0, 1); got {dropout_rate!r}")
  use_dropout = dropout_rate > 0.0 and not deterministic and len(params) > 1
  if use_dropout and key is None:
    raise ValueError(f"{where}: dropout_rate={dropout_rate} needs key= (or deterministic=True)")
  if carry is not None and len(carry) != len(params):
    raise ValueError(f"{where}: carry has {len(carry)} entries; expected one per layer "
                     f"({len(params)})")
  regularize = not deterministic and options.regularized
  if regularize and key is None:
    raise ValueError(f"{where}: state_dropout / zoneout need key= (or deterministic=True)")
  reg_key = None
  if regularize:
    key, reg_key = jax.random.split(key)
  keys = jax.random.split(key, len(params) - 1) if use_dropout else None
  finals = []
  h = xs
  for l, layer in enumerate(params):
    c = None if carry is None else carry[l]
    common = dict(carry=c, lengths=lengths, resets=resets, deterministic=not regularize,
                  key=None if reg_key is None else jax.random.fold_in(reg_key, l))
    if isinstance(layer, Bidirectional):
      ys, final = bidirectional(cell, layer, h, options, merge=merge, **common)
    else:
      ys, final = unroll(cell, layer, h, options, **common)
    if residual and l > 0:
      if ys.shape != h.shape:
        raise ValueError(f"{where}: residual=True needs layer {l}'s output shape {ys.shape} to "
                         f"equal its input shape {h.shape}")
      ys = ys + h
    finals.append(final)
    if use_dropout and l < len(params) - 1:
      ys = regularizers.dropout(ys, dropout_rate, key=keys[l], locked=locked_dropout)
    h = ys
  return h, finals


def initial_carries(cell: Cell, params: Sequence[Any], batch_shape: Any) -> list[Any]:
  """Zero carries of a stack's layers (``Bidirectional`` where a layer is)."""
  out = []
  for layer in params:
    if isinstance(layer, Bidirectional):
      out.append(Bidirectional(cell.initial_carry(layer.forward, batch_shape),
                               cell.initial_carry(layer.backward, batch_shape)))
    else:
      out.append(cell.initial_carry(layer, batch_shape))
  return out
