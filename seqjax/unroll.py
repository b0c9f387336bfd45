"""Unrolling a cell over a sequence with ``lax.scan``: masked, reversed, bidirectional, stacked.

Arrays are batch-major at the API, ``xs: [*B, T, I]`` (``B`` may be several axes or none, so
``vmap`` over an unbatched call works), and time-major inside the scan. The input projection of
every step is computed before the loop as one matmul (``cell.project``); the loop body only
does the recurrent half (``cell.step``).

Variable lengths: with ``lengths: [*B]`` (ints in ``[0, T]``, right padding), step ``t`` of a
sequence is valid iff ``t < length``. Padded steps leave the carry unchanged and emit zeros, so
``final_carry`` is each sequence's state at its own last step. With ``reverse=True`` the scan
runs from ``T-1`` down to ``0``; the padded tail is skipped before the first valid step, which
reverses each sequence within its own length, as ``torch.nn.utils.rnn.pack_padded_sequence``
does.

Carry in, carry out: passing ``final_carry`` of one window as ``carry`` of the next is
truncated BPTT (wrap it in ``jax.lax.stop_gradient`` to cut the gradient at the edge).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from seqjax import fused as fused_lib
from seqjax.cells import base as base_cells
from seqjax.cells.base import Cell

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


def _where_valid(valid: jax.Array, new: Any, old: Any) -> Any:
  def pick(n, o):
    v = jnp.reshape(valid, valid.shape + (1,) * (n.ndim - valid.ndim))
    return jnp.where(v, n, o)
  return jax.tree.map(pick, new, old)


def _check_resets(where: str, resets: Any, batch_shape: tuple[int, ...], T: int) -> jax.Array:
  resets = jnp.asarray(resets)
  if resets.shape != batch_shape + (T,):
    raise ValueError(f"{where}: resets must have shape [*batch, T] = {batch_shape + (T,)}; got "
                     f"{tuple(resets.shape)}")
  return resets.astype(bool)


def _zoneout_rates(where: str, zoneout: Any, carry: Any) -> tuple[float, ...]:
  n = len(jax.tree.leaves(carry))
  rates = (zoneout,) * n if isinstance(zoneout, (int, float)) else tuple(zoneout)
  if len(rates) != n or any(not 0.0 <= r < 1.0 for r in rates):
    raise ValueError(f"{where}: zoneout must be a rate in [0, 1) or one per carry part ({n}: "
                     f"h, c for an LSTM); got {zoneout!r}")
  return rates


def unroll(cell: Cell, params: Any, xs: jax.Array, *, carry: Any = None,
           lengths: Optional[jax.Array] = None, resets: Optional[jax.Array] = None,
           reverse: bool = False, unroll: int = 1, remat: bool = False,
           state_dropout: float = 0.0, zoneout: Any = 0.0, key: Optional[jax.Array] = None,
           deterministic: bool = True, parallel: bool = False,
           perturb: Optional[jax.Array] = None, fused: Optional[bool] = None,
           compute_dtype: Any = None) -> tuple[jax.Array, Any]:
  """Runs ``cell`` over ``xs``.

  Args:
    cell: a cell module (``seqjax.cells.lstm`` ...) or any object with the cell functions.
    params: the cell's parameters.
    xs: ``[*B, T, I]`` inputs.
    carry: initial carry (batch shape ``B``); zeros when ``None``.
    lengths: ``[*B]`` valid lengths, or ``None`` for full sequences. Checked when concrete;
      under ``jit`` values outside ``[0, T]`` behave as if clipped.
    resets: ``[*B, T]`` bools, True where a new segment starts: the carry entering step ``t``
      is the initial carry (``carry``, or zeros) again, so several sequences packed into one
      row are read as if run separately. With ``reverse=True`` the reset happens entering step
      ``t`` when ``t + 1`` starts a segment, so each segment is read backwards on its own.
    reverse: run from the end of each sequence to its start (outputs stay aligned with inputs).
    unroll: scan iterations unrolled into one loop body (``lax.scan``'s ``unroll``).
    remat: recompute each step in the backward pass instead of storing its intermediates.
    state_dropout: variational dropout on the recurrent connection (Gal & Ghahramani 2016):
      ``h_{t-1}`` enters each step as ``h_{t-1} ⊙ m / (1 - p)`` with one Bernoulli mask ``m``
      per sequence, the same at every step (the carry itself keeps the undropped ``h``).
    zoneout: a rate, or one per carry part (``(z_h, z_c)`` for an LSTM), Krueger et al. 2016:
      each unit keeps its previous value with probability ``z`` at each step,
      ``h_t = d_t ⊙ h_{t-1} + (1 - d_t) ⊙ h̃_t``, and at evaluation takes the expectation
      ``z h_{t-1} + (1 - z) h̃_t``. The step's output is then the zoned-out ``h``.
    key, deterministic: the PRNG key of the two regularisers above (needed when training
      with either); ``deterministic=True`` is evaluation (dropout off, zoneout in expectation).
    parallel: for linear-recurrence cells (``minrnn.mingru``, ``minrnn.minlstm``, ``lru``),
      compute every step at once with ``jax.lax.associative_scan`` (O(log T) depth) instead of
      the sequential ``lax.scan``; the results agree (lengths, resets and reverse included).
    perturb: ``[*B, T, O]`` added to each step's output ``h_t`` (and to the carry's ``h``)
      before the next step reads it. Zeros change nothing; the gradient of a loss with respect
      to them is ``∂L/∂h_t`` for every ``t`` at once (``seqjax.diagnostics``).
    fused: the LSTM/GRU recurrence with the hand-written backward of ``seqjax.fused`` (weight
      gradients as large matmuls after the loop). ``None`` (default) uses it wherever it
      applies (``seqjax.fused.applies``, and no state dropout, zoneout, ``perturb`` or
      ``remat``); ``False`` always runs the autodiff scan; ``True`` requires it (an error says
      why it does not apply).
    compute_dtype: e.g. ``jnp.bfloat16``: mixed precision on the fused path. The input
      projection and the recurrent matmuls take bf16 operands and accumulate in float32; the
      parameters, the carry and the gate math stay float32. Needs the fused path.

  Returns:
    ``(ys, final_carry)``: ``ys: [*B, T, O]`` with zeros at padded steps, and the carry at each
    sequence's true end.
  """
  where = "unroll"
  xs = jnp.asarray(xs)
  if xs.ndim < 2:
    raise ValueError(f"{where}: xs must have shape [*batch, T, input_size]; got {xs.shape}")
  batch_shape, T = tuple(xs.shape[:-2]), xs.shape[-2]
  if compute_dtype is not None and hasattr(params, "w_ih"):
    # The input projection in compute_dtype with float32 accumulation (one large matmul).
    base_cells.check_features(where, xs, params.w_ih.shape[0])
    projected = jnp.matmul(xs.astype(compute_dtype), params.w_ih.astype(compute_dtype),
                           preferred_element_type=jnp.float32)
    projected = projected + base_cells.expand_as(params.b.astype(jnp.float32), projected)
  else:
    projected = cell.project(params, xs)
  initial = cell.initial_carry(params, batch_shape)
  if carry is None:
    carry = initial
  else:
    _check_carry(where, carry, initial)
    carry = jax.tree.map(lambda c, z: jnp.asarray(c, z.dtype), carry, initial)
  if lengths is not None:
    lengths = _check_lengths(where, lengths, batch_shape, T)
  use_resets = resets is not None
  if use_resets:
    resets = _check_resets(where, resets, batch_shape, T)
    if reverse:  # entering step t backwards, the segment that t + 1 starts has just ended
      resets = jnp.concatenate([resets[..., 1:], jnp.zeros_like(resets[..., :1])], axis=-1)
    resets = jnp.moveaxis(resets, -1, 0)  # [T, *B]
  else:
    resets = jnp.zeros((T,), bool)  # a scanned placeholder; never read
  start = carry

  # Regularisers: a per-sequence mask on h_{t-1}, and per-step zoneout masks.
  if not 0.0 <= state_dropout < 1.0:
    raise ValueError(f"{where}: state_dropout must be in [0, 1); got {state_dropout!r}")
  zone_rates = _zoneout_rates(where, zoneout, carry)
  use_zoneout = any(r > 0 for r in zone_rates)
  training = not deterministic and (state_dropout > 0 or use_zoneout)
  if training and key is None:
    raise ValueError(f"{where}: state_dropout / zoneout need key= when not deterministic")
  h_mask = None
  step_keys = jnp.zeros((T, 2), jnp.uint32)  # a scanned placeholder unless zoneout trains
  if training:
    key_mask, key_zone = jax.random.split(key)
    if state_dropout > 0:
      keep = jax.random.bernoulli(key_mask, 1.0 - state_dropout, carry.h.shape)
      h_mask = keep.astype(carry.h.dtype) / (1.0 - state_dropout)
    if use_zoneout:
      step_keys = jax.random.split(key_zone, T)

  projected = jnp.moveaxis(projected, -2, 0)  # [T, *B, G]
  if perturb is None:
    perturb_t = jnp.zeros((T,), jnp.float32)  # a scanned placeholder; never read
  else:
    perturb_t = jnp.moveaxis(jnp.asarray(perturb), -2, 0)
  if parallel and perturb is not None:
    raise ValueError(f"{where}: perturb needs the sequential scan (parallel=False)")
  if parallel:
    if not hasattr(cell, "coefficients"):
      raise ValueError(f"{where}: parallel=True needs a linear-recurrence cell (minGRU, minLSTM, "
                       f"LRU); {getattr(cell, '__name__', cell)} is not one")
    if training or use_zoneout:
      raise ValueError(f"{where}: parallel=True does not take state_dropout or zoneout")
    valid = None
    if lengths is not None:
      valid = jnp.arange(T).reshape((T,) + (1,) * len(batch_shape)) < lengths[None]
    return _parallel(cell, params, projected, carry, valid, resets if use_resets else None,
                     reverse)

  reasons = []
  if not fused_lib.applies(cell, params):
    reasons.append(f"{getattr(cell, '__name__', cell)} with these options has no fused form")
  if training or use_zoneout:
    reasons.append("state dropout and zoneout need the scan")
  if perturb is not None:
    reasons.append("perturb needs the scan")
  if remat:
    reasons.append("remat needs the scan")
  if fused and reasons:
    raise ValueError(f"{where}: fused=True but {'; '.join(reasons)}")
  if compute_dtype is not None and (reasons or fused is False):
    raise ValueError(f"{where}: compute_dtype needs the fused path (LSTM without projection "
                     f"or layer norm, or GRU); here {'; '.join(reasons) or 'fused=False'}")
  if fused is not False and not reasons:
    valid = None
    if lengths is not None:
      valid = jnp.arange(T).reshape((T,) + (1,) * len(batch_shape)) < lengths[None]
    ys, final = fused_lib.run(cell, params, projected, carry, valid=valid,
                              resets=resets if use_resets else None, reverse=reverse,
                              unroll=unroll, compute_dtype=compute_dtype)
    return jnp.moveaxis(ys, 0, -2), final

  step = cell.step
  if remat:
    step = jax.checkpoint(step)

  def cast_like(new, old):
    return jax.tree.map(lambda n, o: n.astype(o.dtype), new, old)

  def zone(old, new, k_t):
    leaves_old, treedef = jax.tree.flatten(old)
    leaves_new = jax.tree.leaves(new)
    keys = jax.random.split(k_t, len(leaves_old)) if training else [None] * len(leaves_old)
    out = []
    for rate, o, n, k in zip(zone_rates, leaves_old, leaves_new, keys):
      if rate == 0:
        out.append(n)
      elif deterministic:
        out.append((rate * o + (1.0 - rate) * n).astype(o.dtype))
      else:
        out.append(jnp.where(jax.random.bernoulli(k, rate, o.shape), o, n))
    return jax.tree.unflatten(treedef, out)

  def body(c, inputs):
    p_t, t, r_t, k_t, e_t = inputs
    if use_resets:
      c = _where_valid(r_t, start, c)
    c_in = c if h_mask is None else c._replace(h=c.h * h_mask)
    new_c, y = step(params, c_in, p_t)
    new_c = cast_like(new_c, c)
    if use_zoneout:
      new_c = zone(c, new_c, k_t)
      y = new_c.h
    if perturb is not None:
      new_c = new_c._replace(h=new_c.h + e_t.astype(new_c.h.dtype))
      y = new_c.h
    if lengths is not None:
      valid = t < lengths
      new_c = _where_valid(valid, new_c, c)
      y = _where_valid(valid, y, jnp.zeros_like(y))
    return new_c, y

  final, ys = lax.scan(body, carry, (projected, jnp.arange(T), resets, step_keys, perturb_t),
                       reverse=reverse, unroll=unroll)
  return jnp.moveaxis(ys, 0, -2), final


def _linear_combine(earlier: tuple[jax.Array, jax.Array],
                    later: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
  """Composes ``h -> a1 h + b1`` then ``h -> a2 h + b2``: ``(a2 a1, a2 b1 + b2)``."""
  a1, b1 = earlier
  a2, b2 = later
  return a2 * a1, a2 * b1 + b2


def _parallel(cell: Cell, params: Any, projected: jax.Array, carry: Any,
              valid: Optional[jax.Array], resets: Optional[jax.Array],
              reverse: bool) -> tuple[jax.Array, Any]:
  """``unroll(parallel=True)``: ``projected: [T, *B, G]`` time-major; ``valid``/``resets``
  ``[T, *B]`` (resets already shifted for ``reverse``)."""
  T = projected.shape[0]
  a, b = cell.coefficients(params, projected)  # [T, *B, N]
  h0 = cell.state(carry)
  expand = lambda m: m.reshape(m.shape + (1,) * (a.ndim - m.ndim))
  if resets is not None:  # entering step t the state is h0 again: h_t = a_t h0 + b_t
    r = expand(resets)
    b = jnp.where(r, a * h0[None] + b, b)
    a = jnp.where(r, jnp.zeros_like(a), a)
  if valid is not None:  # padded steps are the identity
    v = expand(valid)
    a = jnp.where(v, a, jnp.ones_like(a))
    b = jnp.where(v, b, jnp.zeros_like(b))
  first = T - 1 if reverse else 0  # fold the initial state into the first step processed
  b = b.at[first].set(a[first] * h0 + b[first])
  _, hs = lax.associative_scan(_linear_combine, (a, b), axis=0, reverse=reverse)
  ys = cell.readout(params, hs, projected)
  if valid is not None:
    ys = jnp.where(expand(valid), ys, jnp.zeros_like(ys))
  final = cell.from_state(params, hs[0] if reverse else hs[-1])
  final = jax.tree.map(lambda f, c: f.astype(c.dtype), final, carry)
  return jnp.moveaxis(ys, 0, -2), final


_unroll = unroll  # the functions below take an `unroll` argument that shadows the name


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


def bidirectional(cell: Cell, params: Bidirectional, xs: jax.Array, *, carry: Any = None,
                  lengths: Optional[jax.Array] = None, resets: Optional[jax.Array] = None,
                  merge: str = "concat", unroll: int = 1, remat: bool = False,
                  state_dropout: float = 0.0, zoneout: Any = 0.0,
                  key: Optional[jax.Array] = None, deterministic: bool = True,
                  parallel: bool = False, fused: Optional[bool] = None,
                  compute_dtype: Any = None) -> tuple[jax.Array, Bidirectional]:
  """A forward and a (length-aware) reverse unroll of ``xs``, outputs merged per step.

  ``params`` and ``carry`` are ``Bidirectional(forward, backward)``. Returns
  ``(ys, Bidirectional(final_forward, final_backward))``; ``ys`` is ``[*B, T, 2*O]`` for
  ``concat`` and ``[*B, T, O]`` for ``sum``/``mean``.
  """
  if merge not in MERGES:
    raise ValueError(f"bidirectional: merge must be one of {list(MERGES)}; got {merge!r}")
  if not isinstance(params, Bidirectional):
    raise ValueError("bidirectional: params must be a seqjax.unroll.Bidirectional(forward, "
                     f"backward); got {type(params).__name__}")
  c_fw, c_bw = (None, None) if carry is None else carry
  k_fw, k_bw = (None, None) if key is None else jax.random.split(key)
  common = dict(lengths=lengths, resets=resets, unroll=unroll, remat=remat,
                state_dropout=state_dropout, zoneout=zoneout, deterministic=deterministic,
                parallel=parallel, fused=fused, compute_dtype=compute_dtype)
  ys_fw, f_fw = _unroll(cell, params.forward, xs, carry=c_fw, key=k_fw, **common)
  ys_bw, f_bw = _unroll(cell, params.backward, xs, carry=c_bw, key=k_bw, reverse=True, **common)
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


def dropout(x: jax.Array, rate: float, *, key: jax.Array, locked: bool = False) -> jax.Array:
  """Inverted dropout: zero with probability ``rate``, scale the rest by ``1/(1-rate)``.

  ``locked=True`` is variational ("locked") dropout on ``x: [*B, T, F]`` (Gal & Ghahramani
  2016; Merity et al. 2017): one mask per sequence, the same at every time step.
  """
  shape = x.shape[:-2] + (1,) + x.shape[-1:] if locked else x.shape
  keep = jax.random.bernoulli(key, 1.0 - rate, shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def weight_drop(params: Any, rate: float, *, key: jax.Array) -> Any:
  """DropConnect on the recurrent matrix (Wan et al. 2013; Merity et al. 2017's weight drop):
  each entry of ``w_hh`` is zeroed with probability ``rate`` (the rest scaled by
  ``1 / (1 - rate)``), one mask per call, i.e. the same at every step of the batch. Works on a
  cell's params or a ``Bidirectional`` pair."""
  if isinstance(params, Bidirectional):
    k_fw, k_bw = jax.random.split(key)
    return Bidirectional(weight_drop(params.forward, rate, key=k_fw),
                         weight_drop(params.backward, rate, key=k_bw))
  if not hasattr(params, "w_hh"):
    raise ValueError(f"weight_drop: {type(params).__name__} has no recurrent matrix w_hh")
  return dataclasses.replace(params, w_hh=dropout(params.w_hh, rate, key=key))


def stack(cell: Cell, params: Sequence[Any], xs: jax.Array, *, carry: Optional[Sequence[Any]] = None,
          lengths: Optional[jax.Array] = None, resets: Optional[jax.Array] = None,
          merge: str = "concat", dropout_rate: float = 0.0,
          key: Optional[jax.Array] = None, deterministic: bool = False, residual: bool = False,
          unroll: int = 1, remat: bool = False, locked_dropout: bool = False,
          state_dropout: float = 0.0, zoneout: Any = 0.0,
          parallel: bool = False, fused: Optional[bool] = None,
          compute_dtype: Any = None) -> tuple[jax.Array, list[Any]]:
  """A deep RNN: layer ``l`` unrolls over layer ``l-1``'s outputs.

  Args:
    params: one entry per layer, a cell's params or ``Bidirectional`` (see ``init_stack``).
    carry: ``None`` or one initial carry per layer (``Bidirectional`` for bidirectional layers).
    dropout_rate: dropout on each layer's output before the next layer (not after the last), as
      ``torch.nn.LSTM(dropout=...)``. Needs ``key`` unless ``deterministic``.
    locked_dropout: that dropout with one mask per sequence (variational, ``dropout``).
    parallel: associative scans for linear-recurrence cells (``unroll``).
    state_dropout, zoneout: recurrent regularisers of every layer (``unroll``), with a key of
      their own per layer.
    residual: add each layer's input to its output from the second layer on (shapes must agree).
    fused, compute_dtype: the fused LSTM/GRU path and mixed precision (``unroll``).
    Other arguments as in ``unroll`` / ``bidirectional``.

  Returns:
    ``(ys, final_carries)`` with one final carry per layer.
  """
  where = "stack"
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
  regularize = not deterministic and (state_dropout > 0 or any(
      r > 0 for r in jax.tree.leaves(zoneout)))
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
    common = dict(carry=c, lengths=lengths, resets=resets, unroll=unroll, remat=remat,
                  state_dropout=state_dropout, zoneout=zoneout, deterministic=not regularize,
                  key=None if reg_key is None else jax.random.fold_in(reg_key, l),
                  parallel=parallel, fused=fused, compute_dtype=compute_dtype)
    if isinstance(layer, Bidirectional):
      ys, final = bidirectional(cell, layer, h, merge=merge, **common)
    else:
      ys, final = _unroll(cell, layer, h, **common)
    if residual and l > 0:
      if ys.shape != h.shape:
        raise ValueError(f"{where}: residual=True needs layer {l}'s output shape {ys.shape} to "
                         f"equal its input shape {h.shape}")
      ys = ys + h
    finals.append(final)
    if use_dropout and l < len(params) - 1:
      ys = dropout(ys, dropout_rate, key=keys[l], locked=locked_dropout)
    h = ys
  return h, finals
