"""Time series on the host (floor 3, NumPy): forecast metrics, the classical forecasters the
recurrent ones are compared with, and dynamic time warping for nearest-neighbour
classification.

Every forecaster here answers the same question as the RNNs of ``seqjax.nn.timeseries``: at
each forecast origin ``o`` (the index of the last observed value) predict the next ``horizon``
values from ``y[:o + 1]`` only.

Metrics over an array of forecasts ``pred`` and truths ``true`` (any shape, same shape):

>>> true, pred = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])
>>> mae(true, pred), round(rmse(true, pred), 4), round(smape(true, pred), 4)
(1.0, 1.291, 35.5556)

MASE divides the MAE by the in-sample MAE of the seasonal naive forecast on the training part
(Hyndman & Koehler 2006), so MASE < 1 beats it:

>>> mase_scale(np.array([1.0, 2.0, 4.0, 3.0]), 1)
1.3333333333333333
>>> naive(np.array([1.0, 2.0, 4.0, 3.0]), [0, 1], 2)
array([[1., 1.],
       [2., 2.]])
>>> seasonal_naive(np.arange(8.0), [4], 3, season=4)  # y[1], y[2], y[3]
array([[1., 2., 3.]])
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from typing import Any, Callable, Optional, Sequence

import numpy as np

# ---- metrics --------------------------------------------------------------------------------


def mae(true: np.ndarray, pred: np.ndarray) -> float:
  """Mean absolute error."""
  return float(np.mean(np.abs(np.asarray(true) - np.asarray(pred))))


def rmse(true: np.ndarray, pred: np.ndarray) -> float:
  """Root mean squared error."""
  return float(np.sqrt(np.mean((np.asarray(true) - np.asarray(pred)) ** 2)))


def smape_terms(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
  """``200 |y - f| / (|y| + |f|)`` per value (0 where both are 0), in percent."""
  true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
  den = np.abs(true) + np.abs(pred)
  return np.where(den > 0, 200.0 * np.abs(true - pred) / np.where(den > 0, den, 1.0), 0.0)


def smape(true: np.ndarray, pred: np.ndarray) -> float:
  """Symmetric MAPE in percent (0 to 200), the M4 competition's definition."""
  return float(np.mean(smape_terms(true, pred)))


def mase_scale(train: np.ndarray, season: int) -> float:
  """The in-sample MAE of the seasonal naive forecast ``y[t] = y[t - season]`` on ``train``
  (``season=1``: the naive one); ``ValueError`` when it is 0 or the part is too short."""
  train = np.asarray(train, np.float64)
  if season < 1 or len(train) <= season:
    raise ValueError(f"mase_scale: a training part of {len(train)} values cannot give a "
                     f"seasonal naive error with season {season}")
  scale = float(np.mean(np.abs(train[season:] - train[:-season])))
  if not scale > 0:
    raise ValueError("mase_scale: the training part is constant at lag "
                     f"{season}; MASE is undefined")
  return scale


def scores(true: np.ndarray, pred: np.ndarray, scale: float) -> dict[str, float]:
  """``{"mae", "rmse", "smape", "mase"}`` of forecasts ``pred`` of ``true``."""
  m = mae(true, pred)
  return {"mae": m, "rmse": rmse(true, pred), "smape": smape(true, pred), "mase": m / scale}


# ---- forecast origins -----------------------------------------------------------------------


def check_origins(n: int, origins: Sequence[int], horizon: int) -> np.ndarray:
  """``origins`` as an int array, each with ``horizon`` values after it inside ``[0, n)``."""
  origins = np.asarray(origins, np.int64)
  if origins.ndim != 1 or not len(origins):
    raise ValueError("forecast origins: need a non-empty list")
  if origins.min() < 0 or origins.max() + horizon >= n:
    raise ValueError(f"forecast origins must lie in [0, {n - horizon - 1}] for horizon "
                     f"{horizon} on {n} values; got [{origins.min()}, {origins.max()}]")
  return origins


def targets(y: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
  """``[len(origins), horizon]``: ``y[o + 1 : o + 1 + horizon]`` for each origin."""
  y = np.asarray(y)
  origins = check_origins(len(y), origins, horizon)
  return y[origins[:, None] + 1 + np.arange(horizon)[None, :]]


# ---- classical forecasters ------------------------------------------------------------------


def naive(y: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
  """The last observed value, repeated: ``[len(origins), horizon]``."""
  y = np.asarray(y, np.float64)
  origins = check_origins(len(y), origins, horizon)
  return np.repeat(y[origins][:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: Sequence[int], horizon: int, season: int) -> np.ndarray:
  """``y[o + h - season * k]`` with the smallest ``k`` that makes it observed at origin ``o``
  (the value one season before, repeated season after season)."""
  y = np.asarray(y, np.float64)
  origins = check_origins(len(y), origins, horizon)
  h = np.arange(1, horizon + 1)
  back = season * ((h - 1) // season + 1)  # the smallest multiple of season >= h
  idx = origins[:, None] + h[None, :] - back[None, :]
  if idx.min() < 0:
    raise ValueError(f"seasonal naive: origin {origins.min()} has less than one season "
                     f"({season}) of history")
  return y[idx]


@dataclasses.dataclass
class Fitted:
  """A classical model fit on the training part: ``forecast(y, origins, horizon)`` filters
  the whole series with the fitted parameters (no refit) and forecasts from each origin
  with only the values up to it. ``name`` describes the model chosen; ``warnings`` counts the
  optimizer's warnings (convergence), reported rather than hidden."""
  name: str
  results: Any
  aic: float
  warnings: list[str]

  def forecast(self, y: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
    y = np.asarray(y, np.float64)
    origins = check_origins(len(y), origins, horizon)
    out = np.empty((len(origins), horizon))
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      for i, o in enumerate(origins):
        out[i] = np.asarray(self.results.apply(y[:o + 1]).forecast(horizon))
    return out


def _fit(make: Callable[[], Any]) -> tuple[Any, list[str]]:
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    results = make().fit(disp=False)
  seen = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught
                 if "Warning" in w.category.__name__})
  return results, seen


def _statsmodels():
  try:
    import statsmodels.api as sm  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ImportError("the ARIMA and ETS baselines need statsmodels: pip install -e "
                      "\".[timeseries]\"") from None
  return sm


def fit_arima(train: np.ndarray, *, order: Optional[Sequence[int]] = None,
              seasonal_order: Sequence[int] = (0, 0, 0, 0), max_p: int = 3, max_q: int = 2,
              d: int = 0, trend: Optional[str] = None) -> Fitted:
  """(S)ARIMA by maximum likelihood (statsmodels ``SARIMAX``) on ``train``. With ``order``
  ``None``, ``(p, d, q)`` is chosen by AIC over ``p <= max_p``, ``q <= max_q`` (the seasonal
  part fixed), as ``auto.arima``'s stepwise search would but exhaustively."""
  sm = _statsmodels()
  train = np.asarray(train, np.float64)
  orders = [tuple(order)] if order is not None else [
      (p, d, q) for p, q in itertools.product(range(max_p + 1), range(max_q + 1)) if p + q]
  best = None
  for o in orders:
    trend_o = trend if trend is not None else ("c" if o[1] == 0 and not seasonal_order[1]
                                               else "n")
    results, seen = _fit(lambda o=o, t=trend_o: sm.tsa.SARIMAX(
        train, order=o, seasonal_order=tuple(seasonal_order), trend=t))
    if not np.isfinite(results.aic):
      continue
    if best is None or results.aic < best.aic:
      s = f"x{tuple(seasonal_order)}" if any(seasonal_order[:3]) else ""
      best = Fitted(f"ARIMA{o}{s}" + (" + const" if trend_o == "c" else ""), results,
                    float(results.aic), seen)
  if best is None:
    raise ValueError("fit_arima: no order gave a finite likelihood")
  return best


def fit_ets(train: np.ndarray, *, season: int = 0, trend: bool = True,
            damped: bool = True) -> Fitted:
  """Linear exponential smoothing (ETS(A, Ad, A)) as a state-space model (statsmodels
  ``statespace.ExponentialSmoothing``), parameters and initial states by maximum likelihood.
  ``season`` 0 or 1 drops the seasonal part; a damped trend is chosen against an undamped
  and no trend by AIC when ``damped`` and ``trend``."""
  sm = _statsmodels()
  train = np.asarray(train, np.float64)
  seasonal = season if season > 1 else None
  variants = [(False, False)] + ([(True, False)] if trend else []) + (
      [(True, True)] if trend and damped else [])
  best = None
  for tr, dp in variants:
    results, seen = _fit(lambda tr=tr, dp=dp: sm.tsa.statespace.ExponentialSmoothing(
        train, trend=tr, damped_trend=dp, seasonal=seasonal, initialization_method="estimated"))
    if np.isfinite(results.aic) and (best is None or results.aic < best.aic):
      name = "ETS(A,{},{})".format("Ad" if dp else ("A" if tr else "N"),
                                   "A" if seasonal else "N")
      best = Fitted(name, results, float(results.aic), seen)
  if best is None:
    raise ValueError("fit_ets: no variant gave a finite likelihood")
  return best


# ---- dynamic time warping -------------------------------------------------------------------


def dtw_distances(queries: np.ndarray, query_lengths: np.ndarray, refs: np.ndarray,
                  ref_lengths: np.ndarray, *, chunk: int = 64) -> np.ndarray:
  """Dependent multivariate DTW (squared Euclidean point cost over all dimensions, no
  warping window; Shokoohi-Yekta et al. 2017's DTW_D) between every query and every
  reference: ``[Q, R]``. Series are padded ``[n, T, D]`` with their lengths; padding is never
  read.

  >>> a = np.array([[[0.0], [1.0], [2.0]]]); b = np.array([[[0.0], [2.0], [9.0]]])
  >>> dtw_distances(a, np.array([3]), b, np.array([2]))
  array([[1.]])
  """
  queries, refs = np.asarray(queries, np.float64), np.asarray(refs, np.float64)
  query_lengths, ref_lengths = np.asarray(query_lengths), np.asarray(ref_lengths)
  if queries.ndim != 3 or refs.ndim != 3 or queries.shape[2] != refs.shape[2]:
    raise ValueError(f"dtw_distances: need [n, T, D] arrays of one D; got {queries.shape} "
                     f"and {refs.shape}")
  if min(query_lengths.min(), ref_lengths.min()) < 1:
    raise ValueError("dtw_distances: every series needs at least one step")
  out = np.empty((len(queries), len(refs)))
  lj = int(ref_lengths.max())
  refs = refs[:, :lj]
  for start in range(0, len(queries), chunk):
    q, ql = queries[start:start + chunk], query_lengths[start:start + chunk]
    li = int(ql.max())
    result = np.full((len(q), len(refs)), np.nan)
    prev = np.full((lj, len(q), len(refs)), np.inf)
    for i in range(li):
      # cost[j] = |q_i - r_j|^2 over dimensions: [lj, Q, R]
      diff = q[None, :, i, None, :] - np.transpose(refs, (1, 0, 2))[:, None, :, :]
      cost = np.sum(diff * diff, axis=-1)
      row = np.empty_like(prev)
      for j in range(lj):
        if i == 0 and j == 0:
          best = np.zeros_like(cost[0])
        elif i == 0:
          best = row[j - 1]
        elif j == 0:
          best = prev[0]
        else:
          best = np.minimum(np.minimum(prev[j], row[j - 1]), prev[j - 1])
        row[j] = cost[j] + best
      ends = ql - 1 == i
      if ends.any():
        result[ends] = row[ref_lengths - 1, :, np.arange(len(refs))].T[ends]
      prev = row
    out[start:start + chunk] = result
  return out


def nearest_neighbour(distances: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """The label of each query's nearest reference (the first one on ties)."""
  return np.asarray(labels)[np.argmin(distances, axis=1)]
