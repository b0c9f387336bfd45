import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import decode

V = 7


def next_token_model(carry, token):
  """Logits favour (token + 1) mod V; the carry counts steps."""
  return 5.0 * jax.nn.one_hot((token + 1) % V, V), carry + 1


def test_greedy_follows_argmax_and_threads_carry():
  out, carry = decode.greedy(next_token_model, jnp.zeros(2), jnp.array([0, 5]), 6)
  np.testing.assert_array_equal(out, [[1, 2, 3, 4, 5, 6], [6, 0, 1, 2, 3, 4]])
  np.testing.assert_array_equal(carry, [6, 6])


def test_top_k_one_is_greedy_and_filter_keeps_k():
  out, _ = decode.sample(next_token_model, jnp.zeros(2), jnp.array([0, 5]), 6,
                         key=jax.random.PRNGKey(0), top_k=1, temperature=2.0)
  np.testing.assert_array_equal(out, decode.greedy(next_token_model, jnp.zeros(2),
                                                   jnp.array([0, 5]), 6)[0])
  kept = decode.filter_top_k(jnp.array([[0.1, 3.0, -1.0, 2.0]]), 2)
  np.testing.assert_array_equal(jnp.isfinite(kept), [[False, True, False, True]])


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampling_frequencies_follow_tempered_softmax(temperature):
  p = np.array([0.5, 0.3, 0.2])
  fixed = lambda carry, token: (jnp.broadcast_to(jnp.log(p), (token.shape[0], 3)), carry)
  n = 20000
  out, _ = decode.sample(fixed, jnp.zeros(()), jnp.zeros(n, jnp.int32), 1,
                         key=jax.random.PRNGKey(1), temperature=temperature)
  expected = p ** (1 / temperature) / np.sum(p ** (1 / temperature))
  freq = np.bincount(np.asarray(out[:, 0]), minlength=3) / n
  np.testing.assert_allclose(freq, expected, atol=0.015)
  with pytest.raises(ValueError, match="temperature"):
    decode.sample(fixed, None, jnp.zeros(2, jnp.int32), 1, key=jax.random.PRNGKey(0),
                  temperature=-1.0)
