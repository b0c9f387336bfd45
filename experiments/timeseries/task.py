"""The time-series tasks: forecasting one real-valued series (``ForecastTask``) and
classifying labelled series (``ClassifyTask``), each against classical baselines.

Forecasting (``seqjax.data.timeseries`` for the split and windows): the model is trained on
windows whose targets lie in the training part, the checkpoint is picked by MASE on the
validation part, and the test tail is forecast from every origin whose ``horizon`` values lie
in it (rolling origin, each forecast from the true history up to its origin). Normalisation
statistics come from the training part only. Metrics (MAE, RMSE, sMAPE, MASE) are in the
series' own units, over every (origin, step) pair; MASE's scale is the in-sample seasonal
naive MAE of the training part. The naive, seasonal naive, ARIMA and ETS forecasters
(``seqjax.timeseries``; the last two fit on the training part, then filter the series with
those parameters) are scored on exactly the same origins.

Classification: the archive's train/test split; ``data.valid_fraction`` of the training
cases (stratified, seeded) pick the checkpoint. Channels are standardised with the training
cases' statistics; padded steps are masked. The baseline is 1-NN with dependent DTW on all
training cases.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.timeseries.configs import base
from seqjax import timeseries as ts
from seqjax.data import registry, timeseries as data_lib
from seqjax.data.epochs import ArrayBatches
from seqjax.nn.timeseries import Forecaster, SeriesClassifier, head_loss
from seqjax.train.task import Data, InputError, Task


class _Base(Task):
  rnn_sections = ("model.rnn",)
  resume_free = ("baselines.", "report.")
  kind = ""  # the registry kind of the task's datasets
  make_config = None  # the base config's function
  constraints: dict = {}  # the base config's value checks

  def schema(self):
    return type(self).make_config()

  def checks(self):
    return self.constraints

  def validate(self, config):
    if config.task != self.name:
      raise ValueError(f"config.task must be {self.name!r} for this config; got "
                       f"{config.task!r}")
    registry.check_manual_dir(config.data.manual_dir, config.data.name)

  def prepare(self, config):
    d = config.data
    try:
      return registry.prepare(d.name, kind=self.kind, data_dir=d.data_dir or None,
                              manual_dir=d.manual_dir or None)
    except FileNotFoundError as e:
      raise InputError(str(e)) from None


# ---- forecasting ----------------------------------------------------------------------------


class ForecastTask(_Base):
  name = "forecast"
  kind = registry.FORECAST
  best = ("mase", "min")
  make_config = staticmethod(base.forecast_config)
  constraints = base.FORECAST_CHECKS

  def validate(self, config):
    super().validate(config)
    d = config.data
    if not 0.0 < config.report.interval < 1.0:
      raise ValueError(f"report.interval must be in (0, 1); got {config.report.interval!r}")
    if len(config.baselines.seasonal_order) != 3:
      raise ValueError("baselines.seasonal_order must be (P, D, Q); got "
                       f"{config.baselines.seasonal_order!r}")
    if d.horizon > d.test_size or d.horizon > d.valid_size:
      raise ValueError(f"data.horizon={d.horizon} must fit in data.test_size={d.test_size} and "
                       f"data.valid_size={d.valid_size}")

  @staticmethod
  def season(config) -> int:
    return config.data.season or data_lib.FORECAST_SETS[config.data.name].period

  def series(self, config) -> tuple[np.ndarray, np.ndarray, int]:
    return data_lib.load_series(self.prepare(config))

  def data(self, config, meta):
    d, t = config.data, config.train
    times, y, filled = self.series(config)
    if d.log and not np.all(y > 0):
      raise InputError(f"data.log=True needs positive values; {d.name} has "
                       f"{int(np.sum(y <= 0))} values <= 0")
    split = data_lib.Split.of(len(y), test_size=d.test_size, valid_size=d.valid_size)
    season = self.season(config)
    model_y = np.log(y) if d.log else y
    scaler = data_lib.Scaler.fit(model_y[:split.train_end])
    stats_note = ""
    if meta is not None:  # the model's input scaling is the one it was trained with
      saved = data_lib.Scaler(float(meta["mean"]), float(meta["std"]))
      if not np.allclose([saved.mean, saved.std], [scaler.mean, scaler.std]):
        stats_note = (f"\nthe training part here has mean {scaler.mean:.6g} and standard "
                      f"deviation {scaler.std:.6g}; the model was trained with {saved.mean:.6g} "
                      f"and {saved.std:.6g}, which are used")
      scaler = saved
    scale = ts.mase_scale(y[:split.train_end], season)
    z = scaler.transform(model_y)
    feats = data_lib.season_features(np.arange(len(y)), season if d.season_features else 0)
    parts, origins_of = {}, {}
    for part in ("train", "validation", "test"):
      origins = split.origins(part, d.context, d.horizon)
      w = data_lib.windows(z, origins, d.context, d.horizon)
      offset = (w["inputs"][:, -1] if d.scaling == "last" else np.zeros(len(origins)))
      parts[part] = {
          "values": (w["inputs"] - offset[:, None]).astype(np.float32),
          "features": feats[w["input_index"]], "future": feats[w["target_index"]],
          "targets": (w["targets"] - offset[:, None]).astype(np.float32),
          "offset": offset.astype(np.float32),
          "truth": y[w["target_index"]].astype(np.float32),
          "loc": np.full(len(origins), scaler.mean, np.float32),
          "spread": np.full(len(origins), scaler.std, np.float32),
          "mase_scale": np.full(len(origins), scale, np.float32)}
      origins_of[part] = origins
    train = ArrayBatches(parts["train"], t.batch_size, shuffle=True, seed=config.seed)
    evals = {p: ArrayBatches(parts[p], t.eval_batch_size, shuffle=False)
             for p in ("validation", "test")}
    note = f", {filled} missing months interpolated" if filled else ""
    summary = (f"{d.name}: {len(y)} values ({times[0]:.2f}-{times[-1]:.2f}{note}); train "
               f"[0, {split.train_end}), validation [{split.train_end}, {split.valid_end}), "
               f"test [{split.valid_end}, {len(y)}); context {d.context}, horizon {d.horizon}, "
               f"season {season}; windows: {len(origins_of['train'])} train, "
               f"{len(origins_of['validation'])} validation, "
               f"{len(origins_of['test'])} test origins{stats_note}")
    return Data(train=train, evals=evals,
                meta={"name": d.name, "n": len(y), "season": season, "mean": scaler.mean,
                      "std": scaler.std, "mase_scale": scale},
                steps_per_epoch=len(train), example={**train.batch(0, 0), "epoch": 0},
                summary=summary,
                extra={"times": times, "y": y, "split": split, "parts": parts,
                       "origins": origins_of})

  def model(self, config, meta, data=None):
    m = config.model
    return Forecaster(rnn=self.rnn(config), horizon=config.data.horizon, mode=m.mode,
                      head=m.head, input_size=m.input_size, dropout_rate=m.dropout_rate)

  def init_params(self, model, key, config, meta):
    d = config.data
    f = 2 if d.season_features and self.season(config) > 1 else 0
    b = 2
    return model.init(key, jnp.zeros((b, d.context)), jnp.zeros((b, d.context, f)),
                      jnp.zeros((b, d.horizon, f)), jnp.zeros((b, d.horizon)))["params"]

  def describe(self, config, model):
    r = config.model.rnn
    return (f"{model.mode} forecaster ({r.cell} {r.num_layers}x{r.hidden_size}, "
            f"{model.head} head)")

  def _apply(self, model, params, batch, *, teacher: bool, key=None):
    rngs = {"dropout": key} if key is not None else None
    return model.apply({"params": params}, batch["values"], batch["features"], batch["future"],
                       batch["targets"] if teacher else None, deterministic=key is None,
                       rngs=rngs)

  def loss(self, model, params, batch, *, key, carry, config):
    mean, scale = self._apply(model, params, batch, teacher=True, key=key)
    per = head_loss(config.model.head, mean, scale, batch["targets"])
    w = batch["weights"][:, None]
    loss = jnp.sum(per * w) / jnp.maximum(jnp.sum(w) * per.shape[1], 1.0)
    return loss, {"loss": loss}, None

  @staticmethod
  def to_units(mean: jax.Array, batch: dict, config) -> jax.Array:
    """Model outputs -> the series' own units."""
    out = (mean + batch["offset"][:, None]) * batch["spread"][:, None] + batch["loc"][:, None]
    return jnp.exp(out) if config.data.log else out

  def eval_step(self, model, params, batch, carry, config):
    mean, scale = self._apply(model, params, batch, teacher=False)
    w = batch["weights"][:, None]
    per = head_loss(config.model.head, mean, scale, batch["targets"])
    pred, truth = self.to_units(mean, batch, config), batch["truth"]
    err = pred - truth
    den = jnp.abs(truth) + jnp.abs(pred)
    smape = jnp.where(den > 0, 200.0 * jnp.abs(err) / jnp.where(den > 0, den, 1.0), 0.0)
    return {"count": jnp.sum(w) * mean.shape[1], "loss": jnp.sum(per * w),
            "abs": jnp.sum(jnp.abs(err) * w), "sq": jnp.sum(err * err * w),
            "smape": jnp.sum(smape * w),
            "scaled": jnp.sum(jnp.abs(err) / batch["mase_scale"][:, None] * w)}, None

  def finalize(self, sums, split, config):
    n = float(sums["count"])
    return {"loss": float(sums["loss"]) / n, "mae": float(sums["abs"]) / n,
            "rmse": float(np.sqrt(float(sums["sq"]) / n)), "smape": float(sums["smape"]) / n,
            "mase": float(sums["scaled"]) / n}

  # ---- final scoring: the model's forecasts beside the classical ones -----------------------
  def forecasts(self, run, params, split: str) -> tuple[np.ndarray, np.ndarray,
                                                        np.ndarray | None]:
    """``(forecast [N, H] in the series' units, lower, upper)`` from every origin of
    ``split``; the bounds are the Gaussian head's ``report.interval`` central interval
    (``None`` for a point head)."""
    from scipy.stats import norm  # pylint: disable=g-import-not-at-top
    model, config = run.model, run.config
    fn = jax.jit(lambda p, b: self._apply(model, p, b, teacher=False))
    z = norm.ppf(0.5 + config.report.interval / 2)
    outs, los, his = [], [], []
    for batch in run.data.evals[split].epoch_batches():
      keep = batch["weights"] > 0
      mean, scale = fn(params, batch)
      outs.append(np.asarray(self.to_units(mean, batch, config))[keep])
      if scale is not None:
        los.append(np.asarray(self.to_units(mean - z * scale, batch, config))[keep])
        his.append(np.asarray(self.to_units(mean + z * scale, batch, config))[keep])
    if not los:
      return np.concatenate(outs), None, None
    return np.concatenate(outs), np.concatenate(los), np.concatenate(his)

  def baselines(self, run, split: str) -> dict[str, dict]:
    """Scores of the classical forecasters on the origins of ``split`` (cached fits)."""
    config, extra = run.config, run.data.extra
    d, b = config.data, config.baselines
    y, sp = extra["y"], extra["split"]
    season = run.data.meta["season"]
    origins = extra["origins"][split]
    truth = ts.targets(y, origins, d.horizon)
    scale = run.data.meta["mase_scale"]
    out = {"naive": ts.scores(truth, ts.naive(y, origins, d.horizon), scale)}
    if season > 1:
      out["seasonal naive"] = ts.scores(truth, ts.seasonal_naive(y, origins, d.horizon, season),
                                        scale)
    fits = extra.setdefault("fits", {})
    train = y[:sp.train_end]
    model_y = np.log(y) if d.log else y
    failed = extra.setdefault("failed_fits", {})
    wanted = {"arima": (b.arima, "ARIMA (order by AIC)", lambda part: ts.fit_arima(
                  part, d=b.arima_d, max_p=b.arima_max_p, max_q=b.arima_max_q,
                  seasonal_order=tuple(b.seasonal_order) + (
                      season if any(b.seasonal_order) else 0,))),
              "ets": (b.ets, "ETS", lambda part: ts.fit_ets(part, season=season,
                                                             trend=b.ets_trend))}
    for key, (on, label, fit) in wanted.items():
      if on and key not in fits and key not in failed:
        run.log(f"fitting {label} on the training part")
        try:
          fits[key] = fit(np.log(train) if d.log else train)
        except (ValueError, np.linalg.LinAlgError) as e:  # a baseline failing is reported,
          failed[key] = f"{type(e).__name__}: {e}"  # and the model's scores are still kept
          run.log(f"{label} could not be fit: {failed[key]}")
    for key, reason in failed.items():
      out[key] = {"model": key, "failed": reason}
    for key, fitted in fits.items():
      pred = fitted.forecast(model_y, origins, d.horizon)
      pred = np.exp(pred) if d.log else pred
      out[key] = {"model": fitted.name, **ts.scores(truth, pred, scale)}
      if fitted.warnings:
        out[key]["fit_warnings"] = fitted.warnings
    extra.setdefault("preds", {})[split] = {k: f.forecast(model_y, origins[:1], d.horizon)
                                            for k, f in fits.items()}
    return out

  def evaluate(self, run, params, split):
    from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
    scores = trainer.evaluate_split(run, params, split)
    if run.final:
      scores = {"rnn": scores, **self.baselines(run, split)}
    return scores

  def format_scores(self, run, split, scores, step):
    lines = [f"{split} (best checkpoint, step {step}; {len(run.data.extra['origins'][split])}"
             f" origins x {run.config.data.horizon} steps):"]
    for name, s in scores.items():
      if isinstance(s, dict) and "failed" in s:
        lines.append(f"  {name:<36} could not be fit: {s['failed']}")
      elif isinstance(s, dict):
        label = name + (f" {s['model']}" if "model" in s else "")
        lines.append(f"  {label:<36} MAE {s['mae']:.4f}  RMSE {s['rmse']:.4f}  "
                     f"sMAPE {s['smape']:.3f}  MASE {s['mase']:.4f}")
        for w in s.get("fit_warnings", ()):  # the optimizer's own words, not hidden
          lines.append(f"    {name} fit on the training part warned: {w}")
    return "\n".join(lines)

  def report(self, run, state, result):
    if "test" not in result:
      return
    test = result["test"]
    classical = {k: v["mase"] for k, v in test.items() if k in ("arima", "ets") and "mase" in v}
    result["beats_seasonal_naive"] = test["rnn"]["mase"] < test.get(
        "seasonal naive", test["naive"])["mase"]
    if classical:
      result["beats_best_classical"] = test["rnn"]["mase"] <= min(classical.values())
    if run.config.report.plot and run.workdir:
      path = os.path.join(run.workdir, "forecast.png")
      self.plot(run, state.params, path)
      result["plot"] = path
      run.log(f"wrote {path}")

  def plot(self, run, params, path: str) -> None:
    """History, the test tail, the forecast from the first test origin (with the Gaussian
    head's interval) beside ARIMA's and ETS's, and every origin's one-step-ahead forecast."""
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    config, extra = run.config, run.data.extra
    d = config.data
    times, y, sp = extra["times"], extra["y"], extra["split"]
    pred, lo, hi = self.forecasts(run, params, "test")
    origins = extra["origins"]["test"]
    first = origins[0]
    steps = np.arange(first + 1, first + 1 + d.horizon)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    start = max(0, sp.valid_end - 4 * d.test_size)
    ax.plot(times[start:sp.valid_end], y[start:sp.valid_end], color="0.3", lw=1,
            label="history")
    ax.plot(times[sp.valid_end:], y[sp.valid_end:], color="k", lw=1.5, label="test (truth)")
    ax.plot(times[origins + 1], pred[:, 0], color="tab:blue", lw=0.8, ls=":",
            label="RNN one step ahead, every origin")
    ax.plot(times[steps], pred[0], color="tab:blue", lw=2,
            label=f"RNN, {d.horizon} steps from the first test origin")
    if lo is not None:
      ax.fill_between(times[steps], lo[0], hi[0], color="tab:blue", alpha=0.2,
                      label=f"RNN {config.report.interval:.0%} interval")
    colors = {"arima": "tab:red", "ets": "tab:green"}
    for key, p in extra.get("preds", {}).get("test", {}).items():
      p = np.exp(p[0]) if d.log else p[0]
      ax.plot(times[steps], p, color=colors.get(key, "tab:gray"), lw=1.2, ls="--",
              label=extra["fits"][key].name)
    ax.axvline(times[sp.valid_end], color="0.6", lw=0.8)
    ax.set_title(f"{d.name}: {config.model.mode} {config.model.rnn.cell} forecaster")
    ax.set_xlabel("time")
    ax.set_ylabel(data_lib.FORECAST_SETS[d.name].unit)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- classification -------------------------------------------------------------------------


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray,
                                                                              np.ndarray]:
  """``(train indices, validation indices)``: ``round(fraction * n_c)`` of each class ``c``
  (at least one when ``fraction > 0`` and the class has two or more), drawn with ``seed``."""
  rng = np.random.default_rng(seed)
  valid = []
  for c in np.unique(labels):
    idx = np.flatnonzero(labels == c)
    k = int(round(fraction * len(idx)))
    if fraction > 0 and len(idx) > 1:
      k = min(max(k, 1), len(idx) - 1)
    valid.extend(rng.permutation(idx)[:k])
  valid = np.sort(np.asarray(valid, np.int64))
  return np.setdiff1d(np.arange(len(labels)), valid), valid


class ClassifyTask(_Base):
  name = "classify"
  kind = registry.SERIES
  best = ("loss", "min")
  make_config = staticmethod(base.classify_config)
  constraints = base.CLASSIFY_CHECKS

  def cases(self, config):
    builder = self.prepare(config)
    return data_lib.load_cases(builder, "train"), data_lib.load_cases(builder, "test")

  def data(self, config, meta):
    d, t = config.data, config.train
    (xs, ys), (test_xs, test_ys) = self.cases(config)
    src = data_lib.CLASSIFICATION_SETS[d.name]
    tr, va = stratified_split(ys, d.valid_fraction, config.seed)
    steps = np.concatenate([xs[i] for i in tr])
    mean = steps.mean(axis=0) if d.normalize else np.zeros(src.dimensions)
    std = steps.std(axis=0) if d.normalize else np.ones(src.dimensions)
    std = np.where(std > 0, std, 1.0)
    stats_note = ""
    if meta is not None:  # the statistics are part of the trained model: keep the saved ones
      saved_mean, saved_std = np.asarray(meta["mean"]), np.asarray(meta["std"])
      if not (np.allclose(saved_mean, mean) and np.allclose(saved_std, std)):
        stats_note = ("\nthe channel statistics of these training cases differ from the ones "
                      "the model was trained with: the checkpoint's are used")
      mean, std = saved_mean, saved_std
    norm = lambda cases: [((x - mean) / std).astype(np.float32) for x in cases]
    length = max(max(len(x) for x in xs), max(len(x) for x in test_xs))
    sets = {"train": ([xs[i] for i in tr], ys[tr]), "test": (test_xs, test_ys)}
    if len(va):
      sets["validation"] = ([xs[i] for i in va], ys[va])
    arrays = {}
    for part, (cases, labels) in sets.items():
      x, lengths = data_lib.pad_cases(norm(cases), length)
      arrays[part] = {"inputs": x, "lengths": lengths, "labels": labels.astype(np.int32)}
    train = ArrayBatches(arrays["train"], t.batch_size, shuffle=True, seed=config.seed)
    evals = {p: ArrayBatches(a, t.eval_batch_size, shuffle=False)
             for p, a in arrays.items() if p != "train"}
    all_lengths = np.concatenate([arrays[p]["lengths"] for p in arrays])
    summary = (f"{d.name}: {len(src.classes)} classes, {src.dimensions} channels, lengths "
               f"{all_lengths.min()}-{all_lengths.max()}; train {len(tr)}, validation "
               f"{len(va)}, test {len(test_xs)} cases")
    if not len(va):
      summary += ("\ndata.valid_fraction=0: no validation split; the last checkpoint is "
                  "reported (evaluations during training show test scores but pick nothing)")
    summary += stats_note
    return Data(train=train, evals=evals,
                meta={"name": d.name, "classes": list(src.classes), "length": length,
                      "mean": mean.tolist(), "std": std.tolist()},
                steps_per_epoch=len(train), example={**train.batch(0, 0), "epoch": 0},
                summary=summary,
                extra={"arrays": arrays, "all_train": (norm(xs), ys),
                       "test": (norm(test_xs), test_ys)})

  def model(self, config, meta, data=None):
    m = config.model
    return SeriesClassifier(rnn=self.rnn(config), num_classes=len(meta["classes"]),
                            input_size=m.input_size, pool=m.pool,
                            hidden_sizes=tuple(m.hidden_sizes), dropout_rate=m.dropout_rate)

  def init_params(self, model, key, config, meta):
    dims = data_lib.CLASSIFICATION_SETS[config.data.name].dimensions
    return model.init(key, jnp.zeros((2, meta["length"], dims)),
                      jnp.full((2,), meta["length"], jnp.int32))["params"]

  def describe(self, config, model):
    r = config.model.rnn
    return (f"series classifier ({r.cell} {r.num_layers}x{r.hidden_size}"
            f"{' bidirectional' if r.bidirectional else ''}, {model.pool} pooling)")

  def best_metric(self, config):
    if not config.data.valid_fraction:
      return "count", "max"
    return self.best

  def selection_split(self, run):
    return "validation" if "validation" in run.data.evals else "test"

  def restore_best(self, run):
    return "validation" in run.data.evals

  def loss(self, model, params, batch, *, key, carry, config):
    logits = model.apply({"params": params}, batch["inputs"], batch["lengths"],
                         deterministic=False, rngs={"dropout": key})
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])
    w = batch["weights"]
    loss = jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)
    acc = jnp.sum((jnp.argmax(logits, -1) == batch["labels"]) * w) / jnp.maximum(jnp.sum(w), 1.0)
    return loss, {"loss": loss, "accuracy": acc}, None

  def eval_step(self, model, params, batch, carry, config):
    logits = model.apply({"params": params}, batch["inputs"], batch["lengths"])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])
    w = batch["weights"]
    correct = (jnp.argmax(logits, -1) == batch["labels"]).astype(jnp.float32)
    return {"count": jnp.sum(w), "loss": jnp.sum(ce * w), "correct": jnp.sum(correct * w)}, None

  def finalize(self, sums, split, config):
    n = float(sums["count"])
    return {"count": n, "loss": float(sums["loss"]) / n, "accuracy": float(sums["correct"]) / n}

  def evaluate(self, run, params, split):
    from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
    scores = trainer.evaluate_split(run, params, split)
    if run.final and split == "test" and run.config.baselines.dtw:
      (xs, ys), (txs, tys) = run.data.extra["all_train"], run.data.extra["test"]
      run.log(f"1-NN DTW: {len(txs)} x {len(xs)} distances")
      x, xl = data_lib.pad_cases(xs)
      tx, txl = data_lib.pad_cases(txs)
      pred = ts.nearest_neighbour(ts.dtw_distances(tx, txl, x, xl), ys)
      scores["dtw_1nn_accuracy"] = float(np.mean(pred == tys))
    return scores

  def format_scores(self, run, split, scores, step):
    which = f"best checkpoint, step {step}" if self.restore_best(run) else "last state"
    line = (f"{split} ({int(scores['count'])} cases; {which}): accuracy "
            f"{scores['accuracy']:.4f}")
    if "dtw_1nn_accuracy" in scores:
      line += f"; 1-NN DTW accuracy {scores['dtw_1nn_accuracy']:.4f}"
    return line


FORECAST = ForecastTask()
CLASSIFY = ClassifyTask()
TASKS = {t.name: t for t in (FORECAST, CLASSIFY)}
