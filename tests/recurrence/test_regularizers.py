"""RNN regularisers: variational (locked) dropout, recurrent-state dropout, zoneout, weight
drop. Masks constant across time, identity at evaluation, expected scaling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.cells import gru, lstm, simple
from seqjax.nn.rnn import DeepRNN
from seqjax.nn.rnn import RNNSpec
from seqjax.recurrence import Bidirectional, dropout, init_bidirectional, stack, unroll, weight_drop
from tests import reference

B, T, I, H = 3, 7, 4, 5


def setup(cell=simple, seed=0, **options):
  params = reference.perturb(cell.init(jax.random.PRNGKey(seed), I, H, **options),
                             jax.random.PRNGKey(seed + 1), scale=0.1)
  xs = jax.random.normal(jax.random.PRNGKey(seed + 2), (B, T, I))
  return params, xs


def test_locked_dropout_masks_are_constant_across_time_and_scaled():
  x = jnp.ones((64, 20, 32))
  y = np.asarray(dropout(x, 0.25, key=jax.random.PRNGKey(0), locked=True))
  np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))  # same at every step
  np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / 0.75], rtol=1e-6)
  assert abs((y[:, 0] == 0).mean() - 0.25) < 0.03 and abs(y.mean() - 1.0) < 0.05
  free = np.asarray(dropout(x, 0.25, key=jax.random.PRNGKey(0)))
  assert not np.array_equal(free[:, 0], free[:, 1])  # plain dropout varies per step


def test_state_dropout_uses_one_mask_on_h_for_the_whole_sequence():
  params, xs = setup(lstm)
  key, rate = jax.random.PRNGKey(7), 0.4
  ys, final = unroll(lstm.CELL, params, xs, state_dropout=rate, key=key, deterministic=False)
  # Reference: the same mask (drawn as unroll draws it) applied to h_{t-1} at every step.
  key_mask, _ = jax.random.split(key)
  mask = jax.random.bernoulli(key_mask, 1 - rate, (B, H)).astype(jnp.float32) / (1 - rate)
  carry = lstm.initial_carry(params, (B,))
  projected = lstm.project(params, xs)
  outs = []
  for t in range(T):
    carry, y = lstm.step(params, carry._replace(h=carry.h * mask), projected[:, t])
    outs.append(y)
  np.testing.assert_allclose(ys, jnp.stack(outs, 1), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(final.c, carry.c, rtol=1e-5, atol=1e-6)
  # Evaluation is the plain network.
  plain = unroll(lstm.CELL, params, xs)[0]
  np.testing.assert_array_equal(unroll(lstm.CELL, params, xs, state_dropout=rate)[0], plain)
  assert not np.allclose(ys, plain)


def test_zoneout_keeps_units_or_updates_them_and_takes_the_expectation_at_evaluation():
  params, xs = setup(gru)
  rate = 0.5
  plain_step = lambda c, p: gru.step(params, c, p)
  projected = gru.project(params, xs)
  # Evaluation: h_t = z h_{t-1} + (1 - z) h~_t.
  ys, _ = unroll(gru.CELL, params, xs, zoneout=rate)
  carry = gru.initial_carry(params, (B,))
  for t in range(T):
    new, _ = plain_step(carry, projected[:, t])
    carry = carry._replace(h=rate * carry.h + (1 - rate) * new.h)
    np.testing.assert_allclose(ys[:, t], carry.h, rtol=1e-5, atol=1e-6)
  # Training: every unit of every step is either its previous value or the fresh update.
  ys, _ = unroll(gru.CELL, params, xs, zoneout=rate, key=jax.random.PRNGKey(3), deterministic=False)
  previous = jnp.zeros((B, H))
  kept = []
  for t in range(T):
    fresh, _ = plain_step(gru.GRUCarry(previous), projected[:, t])
    same_old = np.isclose(ys[:, t], previous, atol=1e-6)
    same_new = np.isclose(ys[:, t], fresh.h, atol=1e-6)
    assert np.all(same_old | same_new)
    kept.append(same_old & ~same_new)
    previous = ys[:, t]
  frac = np.mean(kept[1:])
  assert 0.3 < frac < 0.7  # about z of the units keep their value


def test_zoneout_rates_per_carry_part_and_bad_rates():
  params, xs = setup(lstm)
  ys_h, _ = unroll(lstm.CELL, params, xs, zoneout=(0.0, 0.0))
  np.testing.assert_array_equal(ys_h, unroll(lstm.CELL, params, xs)[0])
  with pytest.raises(ValueError, match=r"zoneout must be a rate in \[0, 1\) or one per carry"):
    unroll(lstm.CELL, params, xs, zoneout=(0.1, 0.2, 0.3))
  with pytest.raises(ValueError, match="need key="):
    unroll(lstm.CELL, params, xs, zoneout=0.1, deterministic=False)
  with pytest.raises(ValueError, match="state_dropout must be in"):
    unroll(lstm.CELL, params, xs, state_dropout=1.0)


def test_weight_drop_zeroes_recurrent_weights_only():
  params = lstm.init(jax.random.PRNGKey(0), 16, 64)
  dropped = weight_drop(lstm.CELL, params, 0.5, key=jax.random.PRNGKey(1))
  w, d = np.asarray(params.w_hh), np.asarray(dropped.w_hh)
  zero = d == 0
  assert abs(zero.mean() - 0.5) < 0.03
  np.testing.assert_allclose(d[~zero], 2.0 * w[~zero], rtol=1e-6)
  np.testing.assert_array_equal(dropped.w_ih, params.w_ih)
  pair = init_bidirectional(gru.CELL, jax.random.PRNGKey(2), 4, 8)
  both = weight_drop(gru.CELL, pair, 0.3, key=jax.random.PRNGKey(3))
  assert isinstance(both, Bidirectional)
  assert not np.array_equal(both.forward.w_hh == 0, both.backward.w_hh == 0)


@pytest.mark.slow  # run with `pytest -m slow`
def test_deep_rnn_regularisers_train_and_vanish_at_evaluation():
  xs = jax.random.normal(jax.random.PRNGKey(0), (B, T, I))
  spec = RNNSpec(cell="lstm", hidden_size=H, num_layers=2, dropout_rate=0.3)
  base = DeepRNN(spec)
  reg = DeepRNN(spec.replace(locked_dropout=True, state_dropout=0.3, zoneout=(0.1, 0.2),
                             weight_drop=0.4))
  params = base.init(jax.random.PRNGKey(1), xs)
  rngs = {"dropout": jax.random.PRNGKey(2)}
  train_a = reg.apply(params, xs, deterministic=False, rngs=rngs)[0]
  train_b = reg.apply(params, xs, deterministic=False, rngs={"dropout": jax.random.PRNGKey(3)})[0]
  assert not np.allclose(train_a, train_b)
  # At evaluation only zoneout remains (as its expectation): without it, the plain network.
  no_zone = DeepRNN(reg.spec.replace(zoneout=0.0))
  np.testing.assert_array_equal(no_zone.apply(params, xs)[0], base.apply(params, xs)[0])
  grads = jax.grad(lambda p: jnp.sum(reg.apply(p, xs, deterministic=False, rngs=rngs)[0]))(params)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
