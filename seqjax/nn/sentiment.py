"""Many-to-one text classifiers: ``tokens [B, T], lengths [B] -> logits [B, C]``.

- ``SequenceClassifier``: embedding -> (bi)directional, possibly stacked ``DeepRNN`` of any
  cell -> pooling over time -> MLP -> logits.
- ``TextCNN``: Kim (2014), convolutions of several widths, max over time, dropout, softmax.
- ``BagOfWords``: a bag of embeddings, the mean (or sum) of the word vectors -> MLP (fastText-style; with
  hidden layers, Iyyer et al.'s deep averaging network).

Every model ignores what lies past each sequence's length: a sentence classified alone or
inside a padded batch gets the same logits (tested). Dropout needs the ``"dropout"`` RNG when
``deterministic=False``.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax import masks
from seqjax.nn.layers import MLP, AttentionPooling, TokenEmbed, last_step
from seqjax.nn.layers import masked_max, masked_mean
from seqjax.nn.rnn import DeepRNN, RNNSpec

POOLINGS = ("last", "mean", "max", "attention")


class TextClassifierBase(nn.Module):
  """The attributes every classifier shares: ``num_classes``, the embedding table
  (``vocab_size`` x ``embed_size``, optionally ``pretrained`` and ``freeze_embeddings``) and
  word dropout to ``unk_id``."""
  num_classes: int
  vocab_size: int
  embed_size: int = 300
  word_dropout_rate: float = 0.0
  unk_id: int = 1
  pretrained: Any = None
  freeze_embeddings: bool = False

  def embed_tokens(self, tokens: jax.Array, mask: jax.Array, deterministic: bool,
                   dropout_rate: float) -> jax.Array:
    """Word dropout, lookup, dropout (``TokenEmbed`` named ``embed``); call it inside the
    compact ``__call__``."""
    return TokenEmbed(self.vocab_size, self.embed_size, dropout_rate, self.word_dropout_rate,
                      self.unk_id, self.pretrained, self.freeze_embeddings,
                      name="embed")(tokens, mask, deterministic)


class SequenceClassifier(TextClassifierBase):
  """Embedding -> RNN -> pooling -> MLP (see the module docstring).

  Attributes:
    num_classes: C.
    vocab_size, embed_size: the embedding table.
    rnn: the recurrent part (``RNNSpec``: cell, sizes, direction, dropout between layers,
      regularisers, back end, compute dtype).
    pooling: ``"last"`` (the state at each sequence's true last step; bidirectional: the
      forward state at the last step joined with the backward state at step 0, i.e. both
      directions' final states), ``"mean"``, ``"max"`` or ``"attention"``.
    mlp_hidden: hidden layer sizes of the head (``()``: a linear head).
    dropout_rate: on the embeddings, on the RNN outputs before pooling (attention pooling
      only, as Flax), on the pooled vector and inside the MLP.
    word_dropout_rate: input tokens replaced by ``unk_id``.
  """
  rnn: RNNSpec = RNNSpec(hidden_size=256, bidirectional=True)
  pooling: str = "attention"
  mlp_hidden: Sequence[int] = (256,)
  activation: str = "tanh"
  output_bias: bool = True
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, tokens: jax.Array, lengths: jax.Array, *,
               deterministic: bool = True) -> jax.Array:
    check_inputs("SequenceClassifier", tokens, lengths)
    if self.pooling not in POOLINGS:
      raise ValueError(f"SequenceClassifier: pooling must be one of {list(POOLINGS)}; "
                       f"got {self.pooling!r}")
    if self.pooling == "last" and self.rnn.bidirectional and self.rnn.merge != "concat":
      raise ValueError("SequenceClassifier: pooling='last' with a bidirectional RNN needs "
                       f"merge='concat' (it joins the two directions' final states); got "
                       f"{self.rnn.merge!r}")
    mask = masks.length_mask(lengths, tokens.shape[1])
    x = self.embed_tokens(tokens, mask, deterministic, self.dropout_rate)
    ys, _ = DeepRNN(self.rnn, name="rnn")(x, lengths=lengths, deterministic=deterministic)
    drop = nn.Dropout(self.dropout_rate)
    if self.pooling == "last":
      if self.rnn.bidirectional:
        half = ys.shape[-1] // 2
        pooled = jnp.concatenate([last_step(ys[..., :half], lengths), ys[:, 0, half:]], -1)
      else:
        pooled = last_step(ys, lengths)
    elif self.pooling == "mean":
      pooled = masked_mean(ys, mask)
    elif self.pooling == "max":
      pooled = masked_max(ys, mask)
    else:
      ys = drop(ys, deterministic=deterministic)
      pooled, _ = AttentionPooling(self.mlp_hidden[0] if self.mlp_hidden else self.rnn.hidden_size,
                                   name="attention")(ys, mask)
    pooled = drop(pooled, deterministic=deterministic)
    return MLP(tuple(self.mlp_hidden), self.num_classes, self.activation, self.dropout_rate,
               self.output_bias, name="head")(pooled, deterministic)


class TextCNN(TextClassifierBase):
  """Kim (2014): for each width ``w`` in ``filter_widths``, ``num_filters`` ReLU filters over
  windows of ``w`` word vectors, max over time; the maxima joined, dropout, a linear softmax
  layer. Windows may extend past the sentence into zero vectors (Kim pads with zeros), so a
  batch must be at least ``max(filter_widths)`` steps wide (``text_batches(min_length=...)``);
  positions past ``max(length - w + 1, 1)`` are excluded from the max.

  ``channels=2`` is Kim's CNN-multichannel: two tables initialised with the same pretrained
  vectors, one fine-tuned (``embed``) and one kept fixed (``embed_static``: its gradient is
  stopped and ``frozen_mask(params, scopes=("embed_static",))`` masks its updates); every filter
  reads both channels and sums them."""
  filter_widths: Sequence[int] = (3, 4, 5)
  num_filters: int = 100
  dropout_rate: float = 0.5
  channels: int = 1  # 2: Kim's multichannel (a second, frozen copy of the pretrained table)

  @nn.compact
  def __call__(self, tokens: jax.Array, lengths: jax.Array, *,
               deterministic: bool = True) -> jax.Array:
    check_inputs("TextCNN", tokens, lengths)
    T = tokens.shape[1]
    if T < max(self.filter_widths):
      raise ValueError(f"TextCNN: tokens have {T} steps; pad to at least "
                       f"max(filter_widths) = {max(self.filter_widths)}")
    mask = masks.length_mask(lengths, T)
    x = self.embed_tokens(tokens, mask, deterministic, 0.0)
    if self.channels == 2:
      if self.pretrained is None:
        raise ValueError("TextCNN: channels=2 (multichannel) needs pretrained vectors")
      static = TokenEmbed(self.vocab_size, self.embed_size, 0.0, 0.0, self.unk_id,
                          self.pretrained, True, name="embed_static")(tokens, mask, deterministic)
      x = jnp.concatenate([x, static], axis=-1)  # each filter sums over both channels
    elif self.channels != 1:
      raise ValueError(f"TextCNN: channels must be 1 or 2; got {self.channels}")
    features = []
    for w in self.filter_widths:
      h = jax.nn.relu(nn.Conv(self.num_filters, (w,), padding="VALID", name=f"conv_{w}")(x))
      valid = masks.length_mask(jnp.maximum(lengths - w + 1, 1), T - w + 1)
      features.append(masked_max(h, valid))
    pooled = jnp.concatenate(features, axis=-1)
    pooled = nn.Dropout(self.dropout_rate)(pooled, deterministic=deterministic)
    return nn.Dense(self.num_classes, name="output")(pooled)


class BagOfWords(TextClassifierBase):
  """The mean (``reduce="mean"``) or sum of the word vectors, then an MLP."""
  mlp_hidden: Sequence[int] = ()
  activation: str = "relu"
  reduce: str = "mean"
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, tokens: jax.Array, lengths: jax.Array, *,
               deterministic: bool = True) -> jax.Array:
    check_inputs("BagOfWords", tokens, lengths)
    if self.reduce not in ("mean", "sum"):
      raise ValueError(f"BagOfWords: reduce must be 'mean' or 'sum'; got {self.reduce!r}")
    mask = masks.length_mask(lengths, tokens.shape[1])
    x = self.embed_tokens(tokens, mask, deterministic, 0.0)
    pooled = masked_mean(x, mask) if self.reduce == "mean" else jnp.sum(x, axis=1)
    pooled = nn.Dropout(self.dropout_rate)(pooled, deterministic=deterministic)
    return MLP(tuple(self.mlp_hidden), self.num_classes, self.activation, self.dropout_rate,
               name="head")(pooled, deterministic)


def check_inputs(where: str, tokens: jax.Array, lengths: jax.Array) -> None:
  if tokens.ndim != 2:
    raise ValueError(f"{where}: tokens must have shape [batch, time]; got {tokens.shape}")
  if lengths.shape != tokens.shape[:1]:
    raise ValueError(f"{where}: lengths must have shape [batch] = {tokens.shape[:1]}; "
                     f"got {lengths.shape}")


MODELS = {"rnn": SequenceClassifier, "cnn": TextCNN, "bow": BagOfWords}
