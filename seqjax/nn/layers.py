"""Layers the models share (floor 2): token embedding with word dropout, the MLP head, and
pooling over valid time steps (mean, max, last, keys-only attention). Masks come from
``seqjax.masks``.

>>> import jax.numpy as jnp
>>> xs = jnp.arange(12.0).reshape(1, 4, 3)
>>> lengths = jnp.array([2])
>>> mask = masks.length_mask(lengths, 4)
>>> masked_mean(xs, mask), masked_max(xs, mask), last_step(xs, lengths)
(Array([[1.5, 2.5, 3.5]], dtype=float32), Array([[3., 4., 5.]], dtype=float32), Array([[3., 4., 5.]], dtype=float32))
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax import attention, masks

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh, "relu": jax.nn.relu, "gelu": jax.nn.gelu}


def masked_mean(xs: jax.Array, mask: jax.Array) -> jax.Array:
  """``xs [B, T, D], mask [B, T] -> [B, D]``: the mean over valid steps."""
  m = masks.expand(mask, xs).astype(xs.dtype)
  count = jnp.maximum(jnp.sum(m, axis=1), 1.0)
  return jnp.sum(xs * m, axis=1) / count


def masked_max(xs: jax.Array, mask: jax.Array) -> jax.Array:
  """``[B, T, D] -> [B, D]``: the max over valid steps (0 for a row with none)."""
  out = jnp.max(masks.select(mask, xs, jnp.asarray(-jnp.inf, xs.dtype)), axis=1)
  return jnp.where(jnp.isfinite(out), out, jnp.zeros_like(out))


def last_step(xs: jax.Array, lengths: jax.Array) -> jax.Array:
  """``[B, T, D] -> [B, D]``: ``xs[b, lengths[b] - 1]`` (step 0 for an empty row)."""
  idx = jnp.maximum(lengths - 1, 0)
  return jnp.take_along_axis(xs, jnp.reshape(idx, (-1, 1, 1)), axis=1)[:, 0]


class WordDropout(nn.Module):
  """Replaces each input token by ``unk_id`` with probability ``rate`` (Iyyer et al. 2015;
  Flax's sst2 example)."""
  rate: float
  unk_id: int = 1

  @nn.compact
  def __call__(self, tokens: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or self.rate == 0.0:
      return tokens
    drop = jax.random.bernoulli(self.make_rng("dropout"), self.rate, tokens.shape)
    return jnp.where(drop, jnp.asarray(self.unk_id, tokens.dtype), tokens)


class TokenEmbed(nn.Module):
  """Word dropout -> lookup -> dropout. ``pretrained`` (a ``[V, D]`` array) initialises the
  table; ``frozen`` stops its gradient (the training code also masks its updates, see
  ``frozen_mask``). Rows at padded steps are zeroed."""
  vocab_size: int
  features: int
  dropout_rate: float = 0.0
  word_dropout_rate: float = 0.0
  unk_id: int = 1
  pretrained: Any = None
  frozen: bool = False
  init_stddev: float = 0.1

  @nn.compact
  def __call__(self, tokens: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
    if self.pretrained is not None:
      table_shape = tuple(self.pretrained.shape)
      if table_shape != (self.vocab_size, self.features):
        raise ValueError(f"TokenEmbed: pretrained vectors have shape {table_shape}; expected "
                         f"(vocab_size, embed_size) = {(self.vocab_size, self.features)}")
      init = lambda key, shape, dtype: jnp.asarray(self.pretrained, dtype)
    else:
      init = nn.initializers.normal(stddev=self.init_stddev)
    table = self.param("embedding", init, (self.vocab_size, self.features), jnp.float32)
    if self.frozen:
      table = jax.lax.stop_gradient(table)
    tokens = WordDropout(self.word_dropout_rate, self.unk_id)(tokens, deterministic)
    x = jnp.take(table, tokens, axis=0)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    return masks.apply(mask, x)


class MLP(nn.Module):
  """Hidden layers (activation, dropout after each) then a linear output layer."""
  hidden_sizes: Sequence[int]
  num_outputs: int
  activation: str = "tanh"
  dropout_rate: float = 0.0
  output_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    for size in self.hidden_sizes:
      x = ACTIVATIONS[self.activation](nn.Dense(size)(x))
      x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    return nn.Dense(self.num_outputs, use_bias=self.output_bias)(x)


class AttentionPooling(nn.Module):
  """Keys-only additive attention (Bahdanau et al. 2015, no query; Flax's sst2 example):
  ``a = softmax_t(v^T tanh(W h_t))`` over valid steps, output ``sum_t a_t h_t``."""
  hidden_size: int

  @nn.compact
  def __call__(self, xs: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    energy = jnp.tanh(nn.Dense(self.hidden_size, use_bias=False, name="keys")(xs))
    scores = nn.Dense(1, use_bias=False, name="energy")(energy)[..., 0]
    weights = attention.masked_softmax(scores, mask).astype(scores.dtype)
    self.sow("intermediates", "attention", weights)
    return jnp.einsum("bt,btd->bd", weights, xs), weights


def frozen_mask(params: Any, scopes: Sequence[str] | None = None) -> Any:
  """A pytree of bools over ``params``, True for embedding tables (to freeze them): every one,
  or only those inside a module named in ``scopes``."""
  def is_embedding(path, _):
    names = [getattr(p, "key", getattr(p, "name", "")) for p in path]
    inside = scopes is None or any(n in scopes for n in names[:-1])
    return bool(names) and names[-1] == "embedding" and inside
  return jax.tree_util.tree_map_with_path(is_embedding, params)
