"""The shared layers: pooling over valid steps against NumPy, keys-only attention pooling,
word dropout, the masked token embedding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import masks
from seqjax.nn import layers


def test_mean_max_and_attention_pooling_equations():
  rng = np.random.default_rng(0)
  xs = jnp.asarray(rng.normal(size=(2, 5, 3)), jnp.float32)
  lengths = jnp.array([2, 5])
  mask = masks.length_mask(lengths, 5)
  np.testing.assert_allclose(layers.masked_mean(xs, mask)[0], xs[0, :2].mean(0), rtol=1e-6)
  np.testing.assert_allclose(layers.masked_max(xs, mask)[0], xs[0, :2].max(0))
  np.testing.assert_allclose(layers.last_step(xs, lengths)[0], xs[0, 1])
  pool = layers.AttentionPooling(4)
  variables = pool.init(jax.random.PRNGKey(0), xs, mask)
  out, weights = pool.apply(variables, xs, mask)
  w_keys = variables["params"]["keys"]["kernel"]
  v = variables["params"]["energy"]["kernel"][:, 0]
  scores = np.tanh(np.asarray(xs[0, :2]) @ np.asarray(w_keys)) @ np.asarray(v)
  a = np.exp(scores - scores.max())
  a /= a.sum()
  np.testing.assert_allclose(weights[0, :2], a, rtol=1e-5)
  np.testing.assert_allclose(weights[0, 2:], 0.0)
  np.testing.assert_allclose(out[0], a @ np.asarray(xs[0, :2]), rtol=1e-5)


def test_word_dropout_replaces_tokens_with_unk():
  drop = layers.WordDropout(0.5, unk_id=1)
  tokens = jnp.full((50, 40), 9, jnp.int32)
  out = drop.apply({}, tokens, False, rngs={"dropout": jax.random.PRNGKey(0)})
  assert set(np.unique(out)) == {1, 9}
  assert 0.45 < float(jnp.mean(out == 1)) < 0.55


def test_token_embedding_zeroes_padded_steps_and_checks_pretrained_shapes():
  embed = layers.TokenEmbed(vocab_size=10, features=4)
  tokens, mask = jnp.array([[3, 4, 5]]), masks.length_mask(jnp.array([2]), 3)
  variables = embed.init(jax.random.PRNGKey(0), tokens, mask, True)
  x = embed.apply(variables, tokens, mask, True)
  table = variables["params"]["embedding"]
  np.testing.assert_array_equal(x[0, :2], table[jnp.array([3, 4])])
  np.testing.assert_array_equal(x[0, 2], 0.0)
  bad = layers.TokenEmbed(vocab_size=10, features=4, pretrained=np.zeros((9, 4), np.float32))
  with pytest.raises(ValueError, match=r"pretrained vectors have shape \(9, 4\)"):
    bad.init(jax.random.PRNGKey(0), tokens, mask, True)
