"""Forecast metrics and classical forecasters against hand-computed values; ARIMA/ETS see only
the past; dynamic time warping against a brute-force recursion (and sktime's)."""

import functools

import numpy as np
import pytest

from seqjax import timeseries as ts
from tests.fakes.data import ar_series

Y = np.array([3.0, 5.0, 4.0, 6.0, 8.0, 7.0, 9.0, 11.0])


def test_naive_and_seasonal_naive_by_hand():
  np.testing.assert_array_equal(ts.naive(Y, [3, 5], 2), [[6.0, 6.0], [7.0, 7.0]])
  # season 2 from origin 4 (value 8): steps 1..5 read y[3], y[4], y[3], y[4], y[3]
  np.testing.assert_array_equal(ts.seasonal_naive(Y, [4], 3, season=2), [[6.0, 8.0, 6.0]])
  np.testing.assert_array_equal(ts.seasonal_naive(Y, [2], 1, season=3), [[3.0]])
  with pytest.raises(ValueError, match="less than one season"):
    ts.seasonal_naive(Y, [1], 1, season=3)
  with pytest.raises(ValueError, match=r"forecast origins must lie in \[0, 5\]"):
    ts.naive(Y, [6], 2)


def test_metrics_by_hand():
  true, pred = np.array([2.0, 4.0, 0.0]), np.array([1.0, 4.0, 0.0])
  assert ts.mae(true, pred) == pytest.approx(1 / 3)
  assert ts.rmse(true, pred) == pytest.approx(np.sqrt(1 / 3))
  assert ts.smape(true, pred) == pytest.approx(200 * (1 / 3) / 3)  # 0/0 counts as 0
  # |5-3|, |4-5|, |6-4|, ... lag 1 on the first 4 values: 2, 1, 2 -> 5/3
  assert ts.mase_scale(Y[:4], 1) == pytest.approx(5 / 3)
  assert ts.mase_scale(Y[:4], 2) == pytest.approx(1.0)  # |4-3|, |6-5|
  s = ts.scores(true, pred, scale=0.5)
  assert s["mase"] == pytest.approx(2 / 3)
  with pytest.raises(ValueError, match="constant"):
    ts.mase_scale(np.ones(5), 1)


def test_targets_are_the_values_after_each_origin():
  np.testing.assert_array_equal(ts.targets(Y, [0, 5], 2), [[5.0, 4.0], [9.0, 11.0]])


@pytest.mark.parametrize("fit", [
    functools.partial(ts.fit_arima, max_p=2, max_q=1),
    functools.partial(ts.fit_ets, season=0)])
def test_classical_forecasts_use_only_the_past(fit):
  y = ar_series(300, seed=1)
  fitted = fit(y[:200])
  origins = np.array([210, 250])
  before = fitted.forecast(y, origins, 5)
  changed = y.copy()
  changed[211:] += 100.0  # everything after the first origin
  after = fitted.forecast(changed, origins, 5)
  np.testing.assert_allclose(after[0], before[0])
  assert not np.allclose(after[1], before[1])


def test_arima_recovers_an_ar2_and_forecasts_at_the_noise_floor():
  y = ar_series(600, seed=2, phi=(0.6, -0.3), sigma=0.1)
  fitted = ts.fit_arima(y[:400], max_p=3, max_q=1)
  params = dict(zip(fitted.results.model.param_names, fitted.results.params))
  assert params["ar.L1"] == pytest.approx(0.6, abs=0.1)
  assert params["ar.L2"] == pytest.approx(-0.3, abs=0.1)
  origins = np.arange(400, 599)
  pred = fitted.forecast(y, origins, 1)
  assert ts.rmse(ts.targets(y, origins, 1), pred) == pytest.approx(0.1, rel=0.15)


def brute_dtw(a, b):
  @functools.lru_cache(maxsize=None)
  def d(i, j):
    cost = float(np.sum((a[i] - b[j]) ** 2))
    if i == 0 and j == 0:
      return cost
    options = []
    if i > 0:
      options.append(d(i - 1, j))
    if j > 0:
      options.append(d(i, j - 1))
    if i > 0 and j > 0:
      options.append(d(i - 1, j - 1))
    return cost + min(options)
  return d(len(a) - 1, len(b) - 1)


def test_dtw_matches_the_recursion_on_unequal_lengths():
  rng = np.random.default_rng(0)
  qs = [rng.normal(size=(rng.integers(1, 9), 3)) for _ in range(7)]
  rs = [rng.normal(size=(rng.integers(1, 9), 3)) for _ in range(5)]
  pad = lambda xs: (np.stack([np.pad(x, ((0, 8 - len(x)), (0, 0)), constant_values=1e6)
                              for x in xs]), np.array([len(x) for x in xs]))
  got = ts.dtw_distances(*pad(qs), *pad(rs), chunk=3)
  want = np.array([[brute_dtw(q, r) for r in rs] for q in qs])
  np.testing.assert_allclose(got, want, rtol=1e-12)
  labels = np.array([0, 1, 2, 3, 4])
  np.testing.assert_array_equal(ts.nearest_neighbour(got, labels), np.argmin(want, axis=1))


def test_dtw_matches_sktime_on_equal_lengths():
  dists = pytest.importorskip("sktime.dists_kernels")
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(2, 12, 2)), rng.normal(size=(3, 12, 2))
  got = ts.dtw_distances(a, np.full(2, 12), b, np.full(3, 12))
  # sktime's DTW distance (its default: dependent, squared Euclidean, no window); [n, D, T]
  want = dists.DtwDist().transform(np.transpose(a, (0, 2, 1)), np.transpose(b, (0, 2, 1)))
  np.testing.assert_allclose(got, want, rtol=1e-9)
