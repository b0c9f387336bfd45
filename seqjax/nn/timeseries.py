"""Recurrent models of real-valued series (floor 2): forecasters and a sequence classifier.

Inputs are real vectors, not tokens: each step's features pass through a linear projection
(``input_size`` units; 0 feeds them as they are) before the ``DeepRNN`` of the model's
``RNNSpec``, so every cell and option of seqjax works here.

``Forecaster`` predicts the ``horizon`` values after a window of ``context`` observed ones.
Each step's input is ``[value, known features]`` (the features, e.g. the position in the
season, are known for future steps too). Three structures (``mode``):

- ``"recursive"``: seq-to-one. The RNN reads the window and predicts the next value; for a
  longer horizon the prediction is fed back as the next input (trained with the true values
  fed: teacher forcing).
- ``"direct"``: the RNN reads the window; its last output predicts all ``horizon`` values at
  once (multi-step direct; may be bidirectional).
- ``"seq2seq"``: an encoder RNN reads the window, a decoder RNN (same spec, own weights)
  starts from its final state and emits one value per step, reading the previous value
  (the true one while training, its own prediction when evaluating: free running).

Heads (``head``): ``"gaussian"`` (mean and scale per step, trained by negative
log-likelihood; gives intervals), ``"mse"`` and ``"mae"`` (a point forecast trained by that
loss).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax import masks
from seqjax.nn.layers import MLP, last_step, masked_max, masked_mean
from seqjax.nn.rnn import DeepRNN, RNNSpec

MODES = ("recursive", "direct", "seq2seq")
HEADS = ("gaussian", "mse", "mae")
POOLS = ("last", "mean", "max")
MIN_SCALE = 1e-3


def head_loss(head: str, mean: jax.Array, scale: Optional[jax.Array],
              targets: jax.Array) -> jax.Array:
  """The per-value loss of a head: Gaussian NLL (nats), squared or absolute error."""
  if head == "gaussian":
    z = (targets - mean) / scale
    return jnp.log(scale) + 0.5 * z * z + 0.5 * math.log(2.0 * math.pi)
  if head == "mse":
    return (targets - mean) ** 2
  if head == "mae":
    return jnp.abs(targets - mean)
  raise ValueError(f"head must be one of {list(HEADS)}; got {head!r}")


class _Head(nn.Module):
  """Hidden state -> ``(mean, scale or None)`` of ``steps`` values."""
  head: str
  steps: int = 1

  @nn.compact
  def __call__(self, h: jax.Array) -> tuple[jax.Array, Optional[jax.Array]]:
    k = 2 if self.head == "gaussian" else 1
    out = nn.Dense(self.steps * k, name="out")(h)
    out = out.reshape(out.shape[:-1] + (self.steps, k))
    if self.head != "gaussian":
      return out[..., 0], None
    return out[..., 0], jax.nn.softplus(out[..., 1]) + MIN_SCALE


class Forecaster(nn.Module):
  """See the module docstring. ``__call__(values [B, C], features [B, C, F], future [B, H, F],
  targets [B, H] or None) -> (mean [B, H], scale [B, H] or None)``: with ``targets`` the
  recursive and seq2seq models are teacher-forced, without them they run free."""
  rnn: RNNSpec
  horizon: int
  mode: str = "direct"
  head: str = "gaussian"
  input_size: int = 0
  dropout_rate: float = 0.0

  def setup(self):
    if self.mode not in MODES:
      raise ValueError(f"mode must be one of {list(MODES)}; got {self.mode!r}")
    if self.head not in HEADS:
      raise ValueError(f"head must be one of {list(HEADS)}; got {self.head!r}")
    if self.rnn.bidirectional and self.mode != "direct":
      raise ValueError(f"a {self.mode} forecaster feeds its predictions forward and cannot "
                       "read the future: bidirectional needs mode='direct'")
    self.project = nn.Dense(self.input_size, name="input") if self.input_size else None
    self.encoder = DeepRNN(self.rnn, name="encoder")
    self.decoder = DeepRNN(self.rnn, name="decoder") if self.mode == "seq2seq" else None
    self.drop = nn.Dropout(self.dropout_rate)
    self.out = _Head(self.head, self.horizon if self.mode == "direct" else 1, name="head")

  def _inputs(self, values: jax.Array, features: jax.Array, deterministic: bool) -> jax.Array:
    x = jnp.concatenate([values[..., None], features.astype(values.dtype)], axis=-1)
    if self.project is not None:
      x = self.project(x)
    return self.drop(x, deterministic=deterministic)

  def _step_head(self, ys: jax.Array, deterministic: bool):
    mean, scale = self.out(self.drop(ys, deterministic=deterministic))
    return mean[..., 0], (None if scale is None else scale[..., 0])

  def __call__(self, values: jax.Array, features: jax.Array, future: jax.Array,
               targets: Optional[jax.Array] = None, *, deterministic: bool = True):
    h = self.horizon
    if self.mode == "direct":
      ys, _ = self.encoder(self._inputs(values, features, deterministic),
                           deterministic=deterministic)
      return self.out(self.drop(ys[:, -1], deterministic=deterministic))
    if self.mode == "recursive":
      if targets is not None:  # teacher forcing: one pass over window + known targets
        vals = jnp.concatenate([values, targets[:, :-1]], axis=1)
        feats = jnp.concatenate([features, future[:, :-1]], axis=1)
        ys, _ = self.encoder(self._inputs(vals, feats, deterministic),
                             deterministic=deterministic)
        return self._step_head(ys[:, values.shape[1] - 1:], deterministic)
      ys, carry = self.encoder(self._inputs(values, features, deterministic))
      mean, scale = self._step_head(ys[:, -1:], deterministic)
      means, scales = [mean[:, 0]], [None if scale is None else scale[:, 0]]
      for k in range(1, h):
        x = self._inputs(means[-1][:, None], future[:, k - 1:k], deterministic)
        ys, carry = self.encoder(x, carry)
        mean, scale = self._step_head(ys, deterministic)
        means.append(mean[:, 0])
        scales.append(None if scale is None else scale[:, 0])
      return _stack(means, scales)
    # seq2seq: the decoder's step k reads the value before target k and target k's features
    _, carry = self.encoder(self._inputs(values, features, deterministic),
                            deterministic=deterministic)
    last = values[:, -1:]
    if targets is not None:
      prev = jnp.concatenate([last, targets[:, :-1]], axis=1)
      ys, _ = self.decoder(self._inputs(prev, future, deterministic), carry,
                           deterministic=deterministic)
      return self._step_head(ys, deterministic)
    means, scales, prev = [], [], last
    for k in range(h):
      ys, carry = self.decoder(self._inputs(prev, future[:, k:k + 1], deterministic), carry)
      mean, scale = self._step_head(ys, deterministic)
      means.append(mean[:, 0])
      scales.append(None if scale is None else scale[:, 0])
      prev = mean
    return _stack(means, scales)


def _stack(means: list, scales: list):
  return (jnp.stack(means, axis=1),
          None if scales[0] is None else jnp.stack(scales, axis=1))


class SeriesClassifier(nn.Module):
  """Many-to-one: ``(x [B, T, D], lengths [B]) -> logits [B, num_classes]``. Steps past a
  series' length are never read: the RNN keeps its state there and pooling ignores them.
  ``pool``: ``"last"`` (the output at the last real step; for a bidirectional RNN the forward
  half there and the backward half at step 0), ``"mean"`` or ``"max"`` over real steps."""
  rnn: RNNSpec
  num_classes: int
  input_size: int = 0
  pool: str = "last"
  hidden_sizes: Sequence[int] = ()
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array, *, deterministic: bool = True) -> Any:
    if self.pool not in POOLS:
      raise ValueError(f"pool must be one of {list(POOLS)}; got {self.pool!r}")
    if self.input_size:
      x = nn.Dense(self.input_size, name="input")(x)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    ys, _ = DeepRNN(self.rnn, name="rnn")(x, lengths=lengths, deterministic=deterministic)
    mask = masks.length_mask(lengths, x.shape[1])
    if self.pool == "mean":
      pooled = masked_mean(ys, mask)
    elif self.pool == "max":
      pooled = masked_max(ys, mask)
    elif self.rnn.bidirectional:
      if self.rnn.merge != "concat":
        raise ValueError("pool='last' with a bidirectional RNN needs merge='concat'")
      hsize = self.rnn.hidden_size
      pooled = jnp.concatenate([last_step(ys[..., :hsize], lengths), ys[:, 0, hsize:]], axis=-1)
    else:
      pooled = last_step(ys, lengths)
    pooled = nn.Dropout(self.dropout_rate)(pooled, deterministic=deterministic)
    return MLP(tuple(self.hidden_sizes), self.num_classes, activation="relu",
               dropout_rate=self.dropout_rate, name="classifier")(pooled, deterministic)
