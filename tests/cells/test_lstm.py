import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import unroll
from seqjax.cells import lstm
from tests import reference

VARIANTS = {
    "plain": {},
    "peephole": dict(peephole=True),
    "coupled": dict(coupled=True),
    "coupled_peephole": dict(coupled=True, peephole=True),
    "proj": dict(proj_size=3),
    "layer_norm": dict(layer_norm=True),
    "everything": dict(peephole=True, coupled=True, proj_size=4, layer_norm=True),
    "orthogonal": dict(recurrent_init="orthogonal", input_init="glorot_uniform"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_matches_numpy_equations(name):
  key = jax.random.PRNGKey(0)
  params = reference.perturb(lstm.init(key, 5, 6, **VARIANTS[name]), jax.random.PRNGKey(1))
  xs = jax.random.normal(jax.random.PRNGKey(2), (3, 7, 5))
  h0 = jax.random.normal(jax.random.PRNGKey(3), (3, lstm.output_size(params)))
  c0 = jax.random.normal(jax.random.PRNGKey(4), (3, 6))
  ys, final = unroll(lstm.CELL, params, xs, carry=lstm.LSTMCarry(h0, c0))
  ys_ref, (h_ref, c_ref) = reference.lstm(params, np.asarray(xs), h0, c0)
  np.testing.assert_allclose(ys, ys_ref, atol=2e-5, rtol=1e-5)
  np.testing.assert_allclose(final.h, h_ref, atol=2e-5, rtol=1e-5)
  np.testing.assert_allclose(final.c, c_ref, atol=2e-5, rtol=1e-5)


def test_option_structure():
  H = 6
  p = lstm.init(jax.random.PRNGKey(0), 5, H, peephole=True, proj_size=2, layer_norm=True)
  assert p.w_ih.shape == (5, 4 * H) and p.w_hh.shape == (2, 4 * H) and p.w_hr.shape == (H, 2)
  assert p.p_i.shape == p.p_f.shape == p.p_o.shape == (H,)
  np.testing.assert_array_equal(p.ln_x, np.ones(4 * H))
  np.testing.assert_array_equal(p.ln_c_bias, np.zeros(H))
  c = lstm.init(jax.random.PRNGKey(0), 5, H, coupled=True, peephole=True)
  assert c.w_ih.shape == (5, 3 * H) and c.p_i is None and lstm.hidden_size(c) == H
  plain = lstm.init(jax.random.PRNGKey(0), 5, H)
  assert plain.p_f is None and plain.w_hr is None and plain.ln_x is None


@pytest.mark.parametrize("coupled,forget_slot", [(False, 1), (True, 0)])
def test_forget_bias_lands_on_forget_gate(coupled, forget_slot):
  H = 4
  p = lstm.init(jax.random.PRNGKey(0), 3, H, coupled=coupled, bias_init="zeros", forget_bias=2.5)
  expected = np.zeros(p.b.shape[0])
  expected[forget_slot * H:(forget_slot + 1) * H] = 2.5
  np.testing.assert_array_equal(p.b, expected)


def test_forget_bias_saturates_forget_gate_at_init():
  # With zero weights and zero state, f = sigmoid(forget_bias) and c_1 = i * g = 0.5 * tanh(0).
  p = lstm.init(jax.random.PRNGKey(0), 2, 3, input_init="zeros", recurrent_init="zeros",
                bias_init="zeros", forget_bias=1.0)
  c0 = jnp.ones((1, 3))
  carry, _ = lstm.step(p, lstm.LSTMCarry(jnp.zeros((1, 3)), c0), lstm.project(p, jnp.zeros((1, 2))))
  np.testing.assert_allclose(carry.c, np.full((1, 3), 1 / (1 + np.exp(-1.0))), rtol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(proj_size=6), "proj_size"),
    (dict(proj_size=-1), "proj_size"),
    (dict(peepholes=True), "peepholes"),
    (dict(recurrent_init="he"), "recurrent_init"),
    (dict(bias_init="ones"), "bias_init"),
])
def test_bad_options_raise(kwargs, match):
  with pytest.raises(ValueError, match=match):
    lstm.init(jax.random.PRNGKey(0), 5, 6, **kwargs)


def test_bad_sizes_and_features_raise():
  with pytest.raises(ValueError, match="hidden_size"):
    lstm.init(jax.random.PRNGKey(0), 5, 0)
  p = lstm.init(jax.random.PRNGKey(0), 5, 6)
  with pytest.raises(ValueError, match="input_size=5"):
    lstm.project(p, jnp.zeros((2, 3, 4)))


def test_bf16_params_keep_float32_state():
  p = lstm.init(jax.random.PRNGKey(0), 4, 8, dtype=jnp.bfloat16)
  xs = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 4), jnp.bfloat16)
  ys, final = unroll(lstm.CELL, p, xs)
  assert final.c.dtype == jnp.float32 and final.h.dtype == jnp.float32
  p32 = jax.tree.map(lambda a: a.astype(jnp.float32), p)
  ys32, _ = unroll(lstm.CELL, p32, xs.astype(jnp.float32))
  np.testing.assert_allclose(ys.astype(np.float32), ys32, atol=3e-2)
