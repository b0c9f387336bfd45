"""The forecasters' structures (teacher forcing and free running agree when fed the same
values), the heads' losses against NumPy, and a classifier that padding cannot reach."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.nn.rnn import RNNSpec
from seqjax.nn.timeseries import Forecaster, SeriesClassifier, head_loss

B, C, H, F = 3, 6, 4, 2


def inputs(seed=0):
  rng = np.random.default_rng(seed)
  f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
  return f(B, C), f(B, C, F), f(B, H, F), f(B, H)


@pytest.mark.parametrize("mode, head", [("recursive", "gaussian"), ("seq2seq", "mse")])
def test_free_running_feeds_its_own_predictions(mode, head):
  """Free running equals teacher forcing fed with the free-running predictions themselves,
  and its first step equals teacher forcing's first step whatever the targets."""
  values, features, future, targets = inputs()
  model = Forecaster(RNNSpec(cell="gru", hidden_size=8), horizon=H, mode=mode, head=head,
                     input_size=5)
  params = model.init(jax.random.key(0), values, features, future, targets)
  free, free_scale = model.apply(params, values, features, future)
  forced, _ = model.apply(params, values, features, future, targets)
  np.testing.assert_allclose(free[:, 0], forced[:, 0], rtol=1e-5, atol=1e-6)
  assert not np.allclose(free[:, 1:], forced[:, 1:])
  fed, fed_scale = model.apply(params, values, features, future, free)
  np.testing.assert_allclose(fed, free, rtol=1e-5, atol=1e-6)
  assert (free_scale is None) == (head != "gaussian")
  if free_scale is not None:
    np.testing.assert_allclose(fed_scale, free_scale, rtol=1e-5)
    assert np.all(free_scale > 0)


def test_a_forecast_depends_only_on_its_window_and_known_features():
  values, features, future, targets = inputs()
  for mode in ("recursive", "direct", "seq2seq"):
    model = Forecaster(RNNSpec(cell="lstm", hidden_size=8), horizon=H, mode=mode, head="mse")
    params = model.init(jax.random.key(1), values, features, future)
    a, _ = model.apply(params, values, features, future)
    b, _ = model.apply(params, values, features, future, None)
    np.testing.assert_array_equal(a, b)
    if mode == "direct":  # ignores targets altogether
      c, _ = model.apply(params, values, features, future, targets)
      np.testing.assert_array_equal(a, c)
    assert a.shape == (B, H)


def test_bidirectional_only_for_direct():
  values, features, future, _ = inputs()
  spec = RNNSpec(cell="lstm", hidden_size=4, bidirectional=True)
  Forecaster(spec, horizon=H, mode="direct").init(jax.random.key(0), values, features, future)
  with pytest.raises(ValueError, match="bidirectional needs mode='direct'"):
    Forecaster(spec, horizon=H, mode="seq2seq").init(jax.random.key(0), values, features,
                                                      future)


def test_head_losses_against_numpy():
  rng = np.random.default_rng(0)
  m, s, y = rng.normal(size=5), rng.uniform(0.5, 2, 5), rng.normal(size=5)
  j = lambda x: jnp.asarray(x, jnp.float32)
  want = np.log(s) + 0.5 * ((y - m) / s) ** 2 + 0.5 * math.log(2 * math.pi)
  np.testing.assert_allclose(head_loss("gaussian", j(m), j(s), j(y)), want, rtol=1e-5)
  np.testing.assert_allclose(head_loss("mse", j(m), None, j(y)), (y - m) ** 2, rtol=1e-5)
  np.testing.assert_allclose(head_loss("mae", j(m), None, j(y)), np.abs(y - m), rtol=1e-5)


@pytest.mark.parametrize("pool, bidirectional", [("last", True), ("last", False),
                                                  ("mean", True), ("max", False)])
def test_padding_never_reaches_the_classifier(pool, bidirectional):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4, 9, 3)).astype(np.float32)
  lengths = jnp.array([9, 4, 1, 6], jnp.int32)
  model = SeriesClassifier(RNNSpec(cell="lstm", hidden_size=6, bidirectional=bidirectional),
                           num_classes=5, input_size=7, pool=pool, hidden_sizes=(8,))
  params = model.init(jax.random.key(0), jnp.asarray(x), lengths)
  garbage = x.copy()
  for i, n in enumerate(np.asarray(lengths)):
    garbage[i, n:] = rng.normal(size=garbage[i, n:].shape) * 100.0
  a = model.apply(params, jnp.asarray(x), lengths)
  b = model.apply(params, jnp.asarray(garbage), lengths)
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # and each row is the row alone, unpadded
  for i, n in list(enumerate(np.asarray(lengths)))[1:3]:
    alone = model.apply(params, jnp.asarray(x[i:i + 1, :n]), lengths[i:i + 1])
    np.testing.assert_allclose(alone[0], a[i], rtol=1e-5, atol=1e-6)
