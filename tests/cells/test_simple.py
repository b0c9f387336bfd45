import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import unroll
from seqjax.cells import simple
from tests import reference


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("identity_init", [False, True])
def test_matches_numpy_equations(activation, identity_init):
  p = simple.init(jax.random.PRNGKey(0), 5, 6, activation=activation,
                  identity_init=identity_init)
  p = reference.perturb(p, jax.random.PRNGKey(1), scale=0.2)
  xs = jax.random.normal(jax.random.PRNGKey(2), (3, 7, 5))
  h0 = jax.random.normal(jax.random.PRNGKey(3), (3, 6))
  ys, final = unroll(simple.CELL, p, xs, carry=simple.RNNCarry(h0))
  ys_ref, (h_ref,) = reference.rnn(p, np.asarray(xs), h0)
  np.testing.assert_allclose(ys, ys_ref, atol=2e-5, rtol=1e-5)
  np.testing.assert_allclose(final.h, h_ref, atol=2e-5, rtol=1e-5)


def test_irnn_init_follows_le_et_al():
  p = simple.init(jax.random.PRNGKey(0), 50, 64, activation="relu", identity_init=True,
                  identity_scale=0.9)
  np.testing.assert_allclose(p.w_hh, 0.9 * np.eye(64), rtol=1e-7)
  np.testing.assert_array_equal(p.b, np.zeros(64))
  assert 0.0007 < float(jnp.std(p.w_ih)) < 0.0013  # N(0, 0.001^2)
  # With zero input, an IRNN with ReLU copies a non-negative state forward unchanged.
  h0 = jnp.abs(jax.random.normal(jax.random.PRNGKey(1), (2, 64)))
  p1 = simple.init(jax.random.PRNGKey(0), 50, 64, activation="relu", identity_init=True)
  _, final = unroll(simple.CELL, p1, jnp.zeros((2, 30, 50)), carry=simple.RNNCarry(h0))
  np.testing.assert_allclose(final.h, h0, rtol=1e-6)


def test_errors_name_the_argument():
  key = jax.random.PRNGKey(0)
  with pytest.raises(ValueError, match="activation"):
    simple.init(key, 3, 4, activation="sigmoid")
  with pytest.raises(ValueError, match="recurrent_init"):
    simple.init(key, 3, 4, identity_init=True, recurrent_init="orthogonal")
  with pytest.raises(ValueError, match="'nonlinearity'"):
    simple.init(key, 3, 4, nonlinearity="tanh")
  with pytest.raises(ValueError, match="input_size"):
    simple.init(key, 3.0, 4)
