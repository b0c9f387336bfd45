"""Attention scores against NumPy, masking, and the time-axis form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import attention

B, S, DQ, DK, A = 3, 5, 4, 6, 7


def inputs(dq=DQ, dk=DK, seed=0):
  rng = np.random.default_rng(seed)
  query = rng.normal(size=(B, dq)).astype(np.float32)
  keys = rng.normal(size=(B, S, dk)).astype(np.float32)
  values = rng.normal(size=(B, S, 3)).astype(np.float32)
  lengths = np.array([5, 3, 1])
  mask = (np.arange(S)[None, :] < lengths[:, None]).astype(np.float32)
  return query, keys, values, mask


def reference_scores(name, params, q, k):
  """The textbook formula of each score, in float64 NumPy."""
  p = {n: np.asarray(v, np.float64) for n, v in params.items()}
  q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
  if name == "additive":
    hidden = np.tanh(q[:, None, :] @ p["w_query"] + k @ p["w_key"] + p["bias"])
    return hidden @ p["v"]
  if name == "bilinear":
    return np.einsum("bq,qk,bsk->bs", q, p["w"], k)
  if name == "dot":
    return np.einsum("bd,bsd->bs", q, k)
  return np.einsum("bd,bsd->bs", q, k) / np.sqrt(q.shape[-1])


@pytest.mark.parametrize("name", sorted(attention.SCORES))
def test_scores_weights_and_context_match_numpy(name):
  dk = DK if name in ("additive", "bilinear") else DQ
  query, keys, values, mask = inputs(dk=dk)
  params = attention.init(name, jax.random.PRNGKey(1), DQ, dk, A)
  context, weights = attention.attend(name, params, query, keys, values, mask)
  scores = np.where(mask > 0, reference_scores(name, params, query, keys), -np.inf)
  expected = np.exp(scores - scores.max(-1, keepdims=True))
  expected /= expected.sum(-1, keepdims=True)
  np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(context, np.einsum("bs,bsd->bd", expected, values), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(np.sum(weights, -1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(attention.SCORES))
def test_padded_source_positions_get_zero_weight_and_do_not_matter(name):
  dk = DK if name in ("additive", "bilinear") else DQ
  query, keys, values, mask = inputs(dk=dk)
  params = attention.init(name, jax.random.PRNGKey(2), DQ, dk, A)
  context, weights = attention.attend(name, params, query, keys, values, mask)
  assert np.all(np.asarray(weights)[mask == 0] == 0.0)
  # Garbage (even huge values) at the padded positions changes nothing.
  pad = (mask == 0)[..., None]
  keys2 = np.where(pad, 1e4, keys).astype(np.float32)
  values2 = np.where(pad, -1e4, values).astype(np.float32)
  context2, weights2 = attention.attend(name, params, query, keys2, values2, mask)
  np.testing.assert_allclose(weights2, weights, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(context2, context, rtol=1e-6, atol=1e-6)


def test_time_axis_queries_equal_one_step_at_a_time():
  query, keys, values, mask = inputs()
  queries = np.stack([query, 2 * query, -query], axis=1)  # [B, T=3, Dq]
  params = attention.init("additive", jax.random.PRNGKey(3), DQ, DK, A)
  context, weights = attention.attend("additive", params, queries, keys, values, mask)
  assert context.shape == (B, 3, 3) and weights.shape == (B, 3, S)
  for t in range(3):
    c, w = attention.attend("additive", params, queries[:, t], keys, values, mask)
    np.testing.assert_allclose(context[:, t], c, rtol=1e-6)
    np.testing.assert_allclose(weights[:, t], w, rtol=1e-6)


def test_projected_keys_are_reused_and_gradients_are_finite():
  query, keys, values, mask = inputs()
  params = attention.init("additive", jax.random.PRNGKey(4), DQ, DK, A)
  projected = attention.project_keys("additive", params, keys)
  a = attention.attend("additive", params, query, keys, values, mask)[0]
  b = attention.attend("additive", params, query, keys, values, mask, projected_keys=projected)[0]
  np.testing.assert_array_equal(a, b)
  grads = jax.grad(lambda p: jnp.sum(attention.attend("additive", p, query, keys, values,
                                                      mask)[0] ** 2))(params)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_fully_masked_row_gives_zero_weights_not_nan():
  w = attention.masked_softmax(jnp.ones((2, 3)), jnp.array([[1, 1, 0], [0, 0, 0]]))
  np.testing.assert_allclose(w, [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])


def test_bad_inputs_name_the_problem():
  query, keys, values, mask = inputs()
  with pytest.raises(ValueError, match="query size == key size"):
    attention.init("dot", jax.random.PRNGKey(0), DQ, DK)
  with pytest.raises(ValueError, match="unknown attention score 'cosine'"):
    attention.init("cosine", jax.random.PRNGKey(0), DQ, DK)
  params = attention.init("additive", jax.random.PRNGKey(0), DQ, DK, A)
  with pytest.raises(ValueError, match=r"mask must have shape \[B, S\]"):
    attention.attend("additive", params, query, keys, values, mask[:, :2])
  with pytest.raises(ValueError, match="query must be"):
    attention.attend("additive", params, query[:2], keys, values, mask)
