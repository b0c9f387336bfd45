import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import unroll
from seqjax.cells import gru
from tests import reference


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("recurrent_init", ["uniform", "orthogonal"])
def test_matches_numpy_equations(reset_after, recurrent_init):
  params = gru.init(jax.random.PRNGKey(0), 5, 6, reset_after=reset_after,
                    recurrent_init=recurrent_init)
  params = reference.perturb(params, jax.random.PRNGKey(1))
  xs = jax.random.normal(jax.random.PRNGKey(2), (3, 7, 5))
  h0 = jax.random.normal(jax.random.PRNGKey(3), (3, 6))
  ys, final = unroll(gru.CELL, params, xs, carry=gru.GRUCarry(h0))
  ys_ref, (h_ref,) = reference.gru(params, np.asarray(xs), h0)
  np.testing.assert_allclose(ys, ys_ref, atol=2e-5, rtol=1e-5)
  np.testing.assert_allclose(final.h, h_ref, atol=2e-5, rtol=1e-5)


def test_two_forms_differ():
  # Same weights, the reset applied before vs after the recurrent matmul: different functions.
  p_after = reference.perturb(gru.init(jax.random.PRNGKey(0), 3, 4), jax.random.PRNGKey(1))
  p_before = gru.GRUParams(w_ih=p_after.w_ih, w_hh=p_after.w_hh, b=p_after.b)
  xs = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 3))
  h0 = jax.random.normal(jax.random.PRNGKey(3), (2, 4))
  ys_a, _ = unroll(gru.CELL, p_after, xs, carry=gru.GRUCarry(h0))
  ys_b, _ = unroll(gru.CELL, p_before, xs, carry=gru.GRUCarry(h0))
  assert p_after.reset_after and not p_before.reset_after
  assert np.max(np.abs(ys_a - ys_b)) > 1e-2


def test_structure_and_errors():
  p = gru.init(jax.random.PRNGKey(0), 5, 6, reset_after=False)
  assert p.b_hn is None and p.w_ih.shape == (5, 18) and p.w_hh.shape == (6, 18)
  assert gru.init(jax.random.PRNGKey(0), 5, 6).b_hn.shape == (6,)
  with pytest.raises(ValueError, match="'reset_before'"):
    gru.init(jax.random.PRNGKey(0), 5, 6, reset_before=True)
  with pytest.raises(ValueError, match="reset_after"):
    gru.init(jax.random.PRNGKey(0), 5, 6, reset_after="yes")
  with pytest.raises(ValueError, match="input_size=5"):
    gru.project(p, jnp.zeros((7, 4)))
