import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import stack
from seqjax.cells import gru, lstm
from seqjax.nn import DeepRNN, RNNLM
from seqjax.nn.rnn import RNNSpec
from seqjax.nn import lm as lm_nn
from seqjax.nn import rnn as rnn_nn

V, B, T = 23, 3, 10


def close(a, b, atol=1e-5):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol, rtol=1e-5), a, b)


def test_rnnlm_is_embed_stack_softmax():
  model = RNNLM(vocab_size=V, rnn=RNNSpec(hidden_size=8, num_layers=2,
                                         cell_options={"peephole": True}))
  tokens = jax.random.randint(jax.random.PRNGKey(0), (B, T), 0, V)
  params = model.init(jax.random.PRNGKey(1), tokens)["params"]
  logits, carry = model.apply({"params": params}, tokens)
  x = params["embed"]["embedding"][tokens]
  layers = [params["rnn"]["layer_0"], params["rnn"]["layer_1"]]
  ys, finals = stack(lstm.CELL, layers, x)
  expected = ys @ params["softmax"]["kernel"] + params["softmax"]["bias"][None, None]
  close(logits, expected)
  close(carry, finals)
  assert layers[0].p_f is not None  # cell options reach the cell


def test_windows_with_carry_equal_one_pass():
  model = RNNLM(vocab_size=V, rnn=RNNSpec(cell="gru", hidden_size=8, num_layers=2))
  tokens = jax.random.randint(jax.random.PRNGKey(0), (B, T), 0, V)
  params = model.init(jax.random.PRNGKey(1), tokens)["params"]
  full, carry = model.apply({"params": params}, tokens)
  a, carry_a = model.apply({"params": params}, tokens[:, :4],
                           lm_nn.initial_carry(model, params, B))
  b, carry_b = model.apply({"params": params}, tokens[:, 4:], carry_a)
  close(full, jnp.concatenate([a, b], 1))
  close(carry, carry_b)


def test_tied_weights_init_scale_and_dropout():
  # Zaremba: every parameter U(±init_scale), no forget-gate bias.
  model = RNNLM(vocab_size=V, tie_weights=True, dropout_rate=0.5,
                rnn=RNNSpec(hidden_size=8, init_scale=0.05, cell_options={"forget_bias": 0.0}))
  tokens = jax.random.randint(jax.random.PRNGKey(0), (B, T), 0, V)
  params = model.init(jax.random.PRNGKey(1), tokens)["params"]
  assert "softmax" not in params
  for leaf in jax.tree.leaves({k: v for k, v in params.items() if k != "softmax_bias"}):
    assert float(jnp.max(jnp.abs(leaf))) <= 0.05
  logits, _ = model.apply({"params": params}, tokens)
  E = params["embed"]["embedding"]
  ys, _ = stack(lstm.CELL, [params["rnn"]["layer_0"]], E[tokens])
  close(logits, ys @ E.T + params["softmax_bias"][None, None])
  train1, _ = model.apply({"params": params}, tokens, deterministic=False,
                          rngs={"dropout": jax.random.PRNGKey(2)})
  train2, _ = model.apply({"params": params}, tokens, deterministic=False,
                          rngs={"dropout": jax.random.PRNGKey(3)})
  assert np.max(np.abs(train1 - train2)) > 1e-3 and np.max(np.abs(train1 - logits)) > 1e-3
  with pytest.raises(ValueError, match="tie_weights"):
    bad = RNNLM(vocab_size=V, rnn=RNNSpec(hidden_size=8), embed_size=4, tie_weights=True)
    bad.init(jax.random.PRNGKey(0), tokens)


def test_deep_rnn_bidirectional_carry_helper():
  spec = RNNSpec(cell="gru", hidden_size=5, num_layers=2, bidirectional=True)
  model = DeepRNN(spec)
  xs = jax.random.normal(jax.random.PRNGKey(0), (B, T, 4))
  params = model.init(jax.random.PRNGKey(1), xs)["params"]
  ys, finals = model.apply({"params": params}, xs, lengths=jnp.array([10, 3, 7]))
  assert ys.shape == (B, T, 10)
  zeros = rnn_nn.initial_carry(spec, params, (B,))
  close(jax.tree.map(jnp.zeros_like, finals), zeros)
  ys2, _ = model.apply({"params": params}, xs, zeros, lengths=jnp.array([10, 3, 7]))
  close(ys, ys2)
  np.testing.assert_array_equal(ys[1, 3:], 0.0)


@pytest.mark.parametrize("tie_weights", [False, True])
def test_fixed_window_logits_read_exactly_the_previous_context_tokens(tie_weights):
  """The logits at t depend on tokens t-context+1 .. t and on nothing else: never on the target
  (token t+1) or anything later, never on a token further back than the window (also when the
  output layer shares the embedding table)."""
  from seqjax.nn.lm import FixedWindowLM  # pylint: disable=g-import-not-at-top
  context, steps = 3, 8
  model = FixedWindowLM(vocab_size=V, context=context, embed_size=4, hidden_size=6, direct=True,
                        tie_weights=tie_weights)
  tokens = jax.random.randint(jax.random.PRNGKey(0), (1, steps), 0, V)
  params = model.init(jax.random.PRNGKey(1), tokens)["params"]
  base, _ = model.apply({"params": params}, tokens)
  for s in range(steps):
    changed = tokens.at[0, s].set((tokens[0, s] + 1) % V)
    out, _ = model.apply({"params": params}, changed)
    moved = np.max(np.abs(np.asarray(out - base)), axis=-1)[0]
    for t in range(steps):
      if t - context < s <= t:
        assert moved[t] > 0, (s, t)
      else:
        assert moved[t] == 0, (s, t)


def test_fixed_window_carry_makes_windows_equal_one_pass():
  from seqjax.nn.lm import FixedWindowLM  # pylint: disable=g-import-not-at-top
  model = FixedWindowLM(vocab_size=V, context=4, embed_size=5, hidden_size=7)
  tokens = jax.random.randint(jax.random.PRNGKey(0), (B, T), 0, V)
  params = model.init(jax.random.PRNGKey(1), tokens)["params"]
  full, carry = model.apply({"params": params}, tokens)
  a, carry_a = model.apply({"params": params}, tokens[:, :3], lm_nn.initial_carry(model, params, B))
  b, carry_b = model.apply({"params": params}, tokens[:, 3:], carry_a)
  close(full, jnp.concatenate([a, b], 1))
  np.testing.assert_array_equal(carry, carry_b)
  np.testing.assert_array_equal(carry_b, np.asarray(tokens[:, -4:]) + 1)


def test_fixed_window_refuses_a_carry_of_the_wrong_width():
  from seqjax.nn.lm import FixedWindowLM  # pylint: disable=g-import-not-at-top
  model = FixedWindowLM(vocab_size=V, context=4, embed_size=5, hidden_size=7)
  tokens = jnp.zeros((B, T), jnp.int32)
  params = model.init(jax.random.PRNGKey(1), tokens)["params"]
  with pytest.raises(ValueError, match=r"carry must be \[batch, context\] = \(3, 4\)"):
    model.apply({"params": params}, tokens, jnp.zeros((B, 3), jnp.int32))
