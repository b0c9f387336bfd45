"""The tagger: padding invariance, the character encoder's equations, one tag per word."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.nn.rnn import RNNSpec
from seqjax.cells import lstm
from seqjax.nn.tagging import CharEncoder, Tagger

V, NC, K = 40, 12, 5


def _inputs(rng, lengths, width, char_width=6):
  tokens = np.zeros((len(lengths), width), np.int32)
  chars = np.zeros((len(lengths), width, char_width), np.int32)
  char_lengths = np.zeros((len(lengths), width), np.int32)
  for b, n in enumerate(lengths):
    tokens[b, :n] = rng.integers(2, V, n)
    for t in range(n):
      m = int(rng.integers(1, char_width + 1))
      chars[b, t, :m] = rng.integers(2, NC, m)
      char_lengths[b, t] = m
  return tokens, np.asarray(lengths, np.int32), chars, char_lengths


def test_a_sentence_alone_gets_the_logits_it_gets_in_a_padded_batch():
  model = Tagger(num_tags=K, vocab_size=V, embed_size=6,
                 rnn=RNNSpec(hidden_size=5, num_layers=2, bidirectional=True),
                 char_vocab_size=NC, char_embed_size=4, char_hidden_size=3)
  rng = np.random.default_rng(0)
  batch = _inputs(rng, [7, 2], 9)
  params = model.init(jax.random.PRNGKey(0), *map(jnp.asarray, batch))["params"]
  logits = model.apply({"params": params}, *batch)
  assert logits.shape == (2, 9, K)
  for b, n in enumerate(batch[1]):
    tokens, _, chars, char_lengths = batch
    alone = model.apply({"params": params}, tokens[b:b + 1, :n], np.asarray([n], np.int32),
                        chars[b:b + 1, :n], char_lengths[b:b + 1, :n])
    np.testing.assert_allclose(alone[0], logits[b, :n], rtol=1e-5, atol=1e-6)


def test_char_encoder_joins_the_final_forward_and_backward_states():
  enc = CharEncoder(char_vocab_size=NC, embed_size=4,
                    rnn=RNNSpec(hidden_size=3, bidirectional=True))
  rng = np.random.default_rng(1)
  _, _, chars, char_lengths = _inputs(rng, [4, 2], 4)
  params = enc.init(jax.random.PRNGKey(2), chars, char_lengths)["params"]
  out = np.asarray(enc.apply({"params": params}, chars, char_lengths))
  assert out.shape == (2, 4, 6)
  table, layer = params["embedding"], params["rnn"]["layer_0"]

  def run(cell_params, ids):
    carry = lstm.initial_carry(cell_params, ())
    for i in ids:
      carry, h = lstm.step(cell_params, carry, lstm.project(cell_params, table[i]))
    return np.asarray(h)

  for b in range(2):
    for t in range(4):
      n = char_lengths[b, t]
      if n == 0:
        np.testing.assert_array_equal(out[b, t], 0.0)  # padding words are zeros
        continue
      ids = chars[b, t, :n]
      np.testing.assert_allclose(out[b, t, :3], run(layer.forward, ids), rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(out[b, t, 3:], run(layer.backward, ids[::-1]), rtol=1e-5,
                                 atol=1e-6)


def test_bad_shapes_are_named():
  model = Tagger(num_tags=K, vocab_size=V, embed_size=4,
                 rnn=RNNSpec(hidden_size=3, bidirectional=True), char_vocab_size=NC)
  tokens = jnp.zeros((2, 5), jnp.int32)
  with pytest.raises(ValueError, match="needs chars and char_lengths"):
    model.init(jax.random.PRNGKey(0), tokens, jnp.full((2,), 5, jnp.int32))
  with pytest.raises(ValueError, match=r"chars must be \[B, T, C\]"):
    model.init(jax.random.PRNGKey(0), tokens, jnp.full((2,), 5, jnp.int32),
               jnp.zeros((2, 4, 3), jnp.int32), jnp.ones((2, 4), jnp.int32))
  with pytest.raises(ValueError, match=r"tokens must be \[B, T\] and lengths \[B\]"):
    model.init(jax.random.PRNGKey(0), tokens, jnp.full((3,), 5, jnp.int32))
