"""An opt-in cuDNN path for stacked (bi)LSTMs on GPU, through ``jax.experimental.rnn``.

cuDNN takes every layer's weights as one flat vector: for each layer and direction ``W_ih``
``[4H, I]`` then ``W_hh`` ``[4H, H]``, then for each layer and direction ``b_ih`` and ``b_hh``
``[4H]``, gates in PyTorch's order ``(i, f, g, o)`` (seqjax's order too). ``pack_lstm`` builds it
from seqjax parameters (``b_ih = b``, ``b_hh = 0``; cuDNN adds them), ``unpack_lstm`` goes
back. ``lstm_stack`` runs a stack like ``seqjax.recurrence.stack`` does (lengths, initial carries,
bidirectional layers) and returns the same outputs and final carries.

It covers the plain LSTM only (no peepholes, coupling, projection or layer norm) with no
dropout between layers, and runs only on a GPU backend (``available()``); everywhere else the
fused scan of ``seqjax.fused`` is the fast path. ``jax.experimental.rnn.lstm_ref``, the
reference JAX ships with the kernel, reads the same flat layout on any backend, which is how the
packing is tested on CPU; ``tests/recurrence/test_cudnn.py`` also checks the kernel itself on a GPU.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
from jax.experimental import rnn as jrnn

from seqjax import masks
from seqjax.cells import lstm
from seqjax.recurrence.core import Bidirectional


def available() -> bool:
  """Whether the cuDNN kernel can run here (a GPU backend)."""
  return jax.default_backend() == "gpu"


def _directions(layer: Any) -> list[Any]:
  return [layer.forward, layer.backward] if isinstance(layer, Bidirectional) else [layer]


def check_params(params: Sequence[Any]) -> tuple[int, int, bool]:
  """``(input_size, hidden_size, bidirectional)`` of a stack cuDNN can run, else ValueError."""
  if not params:
    raise ValueError("cudnn: params must hold at least one layer")
  bidirectional = isinstance(params[0], Bidirectional)
  hidden = None
  for k, layer in enumerate(params):
    if isinstance(layer, Bidirectional) != bidirectional:
      raise ValueError("cudnn: every layer must be bidirectional or none")
    for p in _directions(layer):
      if not isinstance(p, lstm.LSTMParams):
        raise ValueError(f"cudnn: layer {k} is not an LSTM ({type(p).__name__})")
      if (p.p_i is not None or p.p_f is not None or p.p_o is not None or p.coupled
          or p.w_hr is not None or p.ln_x is not None or p.ln_h is not None
          or p.ln_c_scale is not None):
        raise ValueError(f"cudnn: layer {k} uses an LSTM option cuDNN lacks (peephole, "
                         "coupled, proj_size or layer_norm)")
      hidden = hidden or p.w_hh.shape[0]
      if p.w_hh.shape[0] != hidden:
        raise ValueError("cudnn: every layer must have the same hidden size")
  return _directions(params[0])[0].w_ih.shape[0], hidden, bidirectional


def pack_lstm(params: Sequence[Any]) -> jax.Array:
  """seqjax LSTM layers (cell params or ``Bidirectional``) -> cuDNN's flat weight vector."""
  check_params(params)
  directions = [p for layer in params for p in _directions(layer)]
  weights = [w for p in directions for w in (p.w_ih.T.reshape(-1), p.w_hh.T.reshape(-1))]
  biases = [b for p in directions for b in (p.b, jnp.zeros_like(p.b))]
  return jnp.concatenate(weights + biases)


def unpack_lstm(flat: jax.Array, input_size: int, hidden_size: int, num_layers: int,
                bidirectional: bool) -> list[Any]:
  """The inverse of ``pack_lstm`` (``b = b_ih + b_hh``)."""
  w_ih, w_hh, b_ih, b_hh = jrnn.unpack_lstm_weights(flat, input_size, hidden_size, num_layers,
                                                    bidirectional)
  d = 2 if bidirectional else 1
  layers = []
  for l in range(num_layers):
    ps = [lstm.LSTMParams(w_ih=w_ih[l * d + k].T, w_hh=w_hh[l * d + k].T,
                          b=b_ih[l * d + k] + b_hh[l * d + k]) for k in range(d)]
    layers.append(Bidirectional(*ps) if bidirectional else ps[0])
  return layers


def lstm_stack(params: Sequence[Any], xs: jax.Array, *, carry: Optional[Sequence[Any]] = None,
               lengths: Optional[jax.Array] = None, reference: bool = False
               ) -> tuple[jax.Array, list[Any]]:
  """``xs [B, T, I]`` through the stack with cuDNN (``reference=True``: JAX's ``lstm_ref``,
  any backend). Returns ``(ys [B, T, D·H], final carries per layer)`` like
  ``seqjax.recurrence.stack`` with ``merge="concat"``."""
  input_size, hidden, bidirectional = check_params(params)
  if xs.ndim != 3:
    raise ValueError(f"cudnn: xs must be [B, T, I]; got {xs.shape}")
  if not reference and not available():
    raise ValueError(f"backend='cudnn' needs a GPU backend; this one is {jax.default_backend()!r} "
                     "(the fused scan is the fast path here)")
  b, t = xs.shape[:2]
  d, n = (2 if bidirectional else 1), len(params)
  if carry is None:
    h0 = c0 = jnp.zeros((n * d, b, hidden), jnp.float32)
  else:
    states = [s for layer in carry for s in (_directions(layer))]
    h0 = jnp.stack([s.h for s in states]).astype(jnp.float32)
    c0 = jnp.stack([s.c for s in states]).astype(jnp.float32)
  seq = (jnp.full((b,), t, jnp.int32) if lengths is None
         else jnp.asarray(lengths, jnp.int32).reshape(b))
  flat = pack_lstm(params)
  if reference:
    w = jrnn.unpack_lstm_weights(flat, input_size, hidden, n, bidirectional)
    ys, hn, cn = jrnn.lstm_ref(xs, h0, c0, *w, seq, input_size, hidden, n, 0.0, bidirectional)
  else:
    ys, hn, cn = jrnn.lstm(xs, h0, c0, flat, seq, input_size=input_size, hidden_size=hidden,
                           num_layers=n, dropout=0.0, bidirectional=bidirectional)
  finals = []
  for l in range(n):
    states = [lstm.LSTMCarry(h=hn[l * d + k], c=cn[l * d + k]) for k in range(d)]
    finals.append(Bidirectional(*states) if bidirectional else states[0])
  return masks.select(masks.length_mask(seq, t), ys, 0.0), finals
