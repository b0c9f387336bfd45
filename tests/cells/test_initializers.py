import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.cells import gru, initializers, lstm, simple


def test_uniform_is_pytorch_rule():
  H = 64
  p = lstm.init(jax.random.PRNGKey(0), 32, H, forget_bias=0.0)
  bound = 1 / np.sqrt(H)
  for w in (p.w_ih, p.w_hh, p.b):
    assert float(jnp.max(jnp.abs(w))) <= bound
    assert float(jnp.max(jnp.abs(w))) > 0.95 * bound  # fills the interval
  # Variance of U(-a, a) is a^2 / 3.
  np.testing.assert_allclose(float(jnp.var(p.w_ih)), bound**2 / 3, rtol=0.05)


@pytest.mark.parametrize("cell,gates", [(lstm, 4), (gru, 3), (simple, 1)])
def test_orthogonal_is_per_gate_block(cell, gates):
  H = 16
  p = cell.init(jax.random.PRNGKey(0), 8, H, recurrent_init="orthogonal")
  for k in range(gates):
    block = np.asarray(p.w_hh[:, k * H:(k + 1) * H])
    np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-5)


def test_glorot_bound_and_identity():
  w = initializers.glorot_uniform(jax.random.PRNGKey(0), (30, 90), jnp.float32, hidden_size=30,
                                  gates=3)
  assert float(jnp.max(jnp.abs(w))) <= np.sqrt(6 / 120)
  eye = initializers.identity(None, (5, 10), jnp.float32, hidden_size=5, gates=2)
  np.testing.assert_array_equal(eye, np.concatenate([np.eye(5)] * 2, 1))
  with pytest.raises(ValueError, match="square"):
    initializers.identity(None, (4, 10), jnp.float32, hidden_size=5, gates=2)


def test_callable_initializer_is_used():
  def half(key, shape, dtype, *, hidden_size, gates):
    return jnp.full(shape, 0.5, dtype)
  p = gru.init(jax.random.PRNGKey(0), 3, 4, recurrent_init=half)
  np.testing.assert_array_equal(p.w_hh, np.full((4, 12), 0.5))


def test_dtype_is_respected():
  p = lstm.init(jax.random.PRNGKey(0), 3, 4, dtype=jnp.bfloat16, peephole=True, proj_size=2)
  assert {a.dtype for a in jax.tree.leaves(p)} == {jnp.dtype(jnp.bfloat16)}


def test_lecun_normal_variance_is_one_over_fan_in():
  w = initializers.lecun_normal(jax.random.PRNGKey(0), (400, 1024), jnp.float32, hidden_size=256,
                                gates=4)
  assert abs(float(jnp.var(w)) * 400 - 1.0) < 0.03
  # Truncated at 2 standard deviations of the underlying normal (scaled to unit variance).
  assert float(jnp.max(jnp.abs(w))) * 20 < 2.0 / 0.88 + 1e-3
