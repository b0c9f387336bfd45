"""Sequence taggers (synchronous many-to-many): one label per input token.

``Tagger``: each word is the concatenation of its embedding and, optionally, a character-level
encoding (``CharEncoder``: a BiLSTM over the word's characters whose final forward and backward
states are joined, Ling et al. 2015; Plank et al. 2016), then dropout, a (stacked)
bidirectional RNN over the sentence, dropout and a linear layer to the tag logits:

    e_t = [E w_t ; c_t],   h_t = [h->_t ; h<-_t] = BiRNN(e_1..e_T)_t,   logits_t = W h_t + b

Every step past a sentence's length is ignored: a sentence tagged alone or inside a padded
batch gets the same logits (tested).
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax.nn.rnn import DeepRNN, RNNSpec
from seqjax import masks
from seqjax.nn.layers import TokenEmbed, last_step


class CharEncoder(nn.Module):
  """``chars [*B, T, C], char_lengths [*B, T] -> [*B, T, 2 * hidden_size]``: for each word the
  forward RNN's state after its last character joined with the backward RNN's state after its
  first character (zeros for an empty word, i.e. padding). ``rnn`` must be one bidirectional
  layer with concatenated directions."""
  char_vocab_size: int
  embed_size: int = 50
  rnn: RNNSpec = RNNSpec(hidden_size=50, bidirectional=True)

  @nn.compact
  def __call__(self, chars: jax.Array, char_lengths: jax.Array) -> jax.Array:
    if not self.rnn.bidirectional or self.rnn.num_layers != 1 or self.rnn.merge != "concat":
      raise ValueError("CharEncoder: rnn must be one bidirectional layer with merge='concat'")
    lead, width = chars.shape[:-1], chars.shape[-1]
    flat = jnp.reshape(chars, (-1, width))
    lengths = jnp.reshape(char_lengths, (-1,))
    table = self.param("embedding", nn.initializers.normal(stddev=0.1),
                       (self.char_vocab_size, self.embed_size), jnp.float32)
    x = jnp.take(table, flat, axis=0)
    ys, _ = DeepRNN(self.rnn, name="rnn")(x, lengths=jnp.maximum(lengths, 1))
    h = self.rnn.hidden_size
    out = jnp.concatenate([last_step(ys[..., :h], lengths), ys[:, 0, h:]], axis=-1)
    out = out * (lengths > 0)[:, None].astype(out.dtype)
    return jnp.reshape(out, lead + (2 * h,))


class Tagger(nn.Module):
  """Word (+ character) embeddings -> BiRNN -> per-token logits (see the module docstring).

  Attributes:
    num_tags, vocab_size, embed_size: the output and the word table.
    rnn: the recurrent part over the sentence (``RNNSpec``; a tagger reads both directions, so
      ``bidirectional`` is its default).
    char_vocab_size: > 0 adds the ``CharEncoder`` (``char_embed_size``, ``char_hidden_size``):
      one bidirectional layer of the same spec (cell, options, back end, regularisers) with
      ``char_hidden_size`` units per direction.
    dropout_rate: on the word representation and on the RNN output.
    word_dropout_rate: training words replaced by ``unk_id`` (teaches the ``<unk>`` vector;
      the character encoder still sees the word).
    pretrained, freeze_embeddings: a ``[V, D]`` initial word table, optionally frozen.
  """
  num_tags: int
  vocab_size: int
  embed_size: int = 100
  rnn: RNNSpec = RNNSpec(hidden_size=100, bidirectional=True)
  char_vocab_size: int = 0
  char_embed_size: int = 50
  char_hidden_size: int = 50
  dropout_rate: float = 0.0
  word_dropout_rate: float = 0.0
  unk_id: int = 1
  pretrained: Any = None
  freeze_embeddings: bool = False

  @nn.compact
  def __call__(self, tokens: jax.Array, lengths: jax.Array, chars: Optional[jax.Array] = None,
               char_lengths: Optional[jax.Array] = None, *,
               deterministic: bool = True) -> jax.Array:
    """``tokens [B, T], lengths [B]`` (+ ``chars [B, T, C], char_lengths [B, T]``) ->
    ``logits [B, T, num_tags]``."""
    if tokens.ndim != 2 or lengths.shape != tokens.shape[:1]:
      raise ValueError(f"Tagger: tokens must be [B, T] and lengths [B]; got {tokens.shape} "
                       f"and {lengths.shape}")
    mask = masks.length_mask(lengths, tokens.shape[1])
    x = TokenEmbed(self.vocab_size, self.embed_size, 0.0, self.word_dropout_rate, self.unk_id,
                   self.pretrained, self.freeze_embeddings, name="embed")(
                       tokens, mask, deterministic)
    if self.char_vocab_size:
      if chars is None or char_lengths is None:
        raise ValueError("Tagger: char_vocab_size > 0 needs chars and char_lengths")
      if chars.shape[:2] != tokens.shape or char_lengths.shape != tokens.shape:
        raise ValueError(f"Tagger: chars must be [B, T, C] and char_lengths [B, T] with "
                         f"[B, T] = {tokens.shape}; got {chars.shape} and {char_lengths.shape}")
      char_rnn = self.rnn.replace(hidden_size=self.char_hidden_size, num_layers=1,
                                  bidirectional=True, merge="concat", dropout_rate=0.0,
                                  residual=False)
      c = CharEncoder(self.char_vocab_size, self.char_embed_size, char_rnn, name="chars")(
          chars, char_lengths)
      x = jnp.concatenate([x, masks.apply(mask, c)], axis=-1)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    ys, _ = DeepRNN(self.rnn, name="rnn")(x, lengths=lengths, deterministic=deterministic)
    ys = nn.Dropout(self.dropout_rate)(ys, deterministic=deterministic)
    return nn.Dense(self.num_tags, name="output")(ys)
