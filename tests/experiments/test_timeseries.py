"""The time-series experiment end to end: an AR series forecast to its noise floor beside
ARIMA, statistics from the training part only, exact resume, a classifier of variable-length
series whose scores do not depend on batching, and one-line errors."""

import json

import numpy as np
import pytest

from experiments.timeseries.configs import tiny, tiny_classify
from experiments.timeseries.task import CLASSIFY, FORECAST, stratified_split
from seqjax.train.trainer import train_and_evaluate
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error
from tests.experiments import harness
from tests.fakes.data import ar_series, write_sunspots_like, write_ts_like

SIGMA = 0.1


def _quiet(_):
  pass


def forecast_config(tmp_path, values, **train):
  write_sunspots_like(tmp_path / "raw", values)
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(tmp_path / "raw"), str(tmp_path / "tfds")
  c.train.update(train)
  return c


def test_an_ar_series_is_forecast_to_its_noise_floor(tmp_path):
  """One step ahead, the best possible RMSE is the innovations' sigma."""
  # AR(2) with phi = (-0.4, 0.3): the naive forecast errs by ~2.3 sigma
  c = forecast_config(tmp_path, ar_series(500, seed=3, phi=(-0.4, 0.3), sigma=SIGMA))
  c.data.test_size, c.data.valid_size, c.data.context, c.data.horizon = 100, 50, 8, 1
  c.data.season, c.data.season_features, c.data.scaling = 1, False, "global"
  c.model.mode, c.model.head = "direct", "mse"
  c.train.num_steps, c.train.eval_every, c.train.checkpoint_every = 400, 100, 100
  c.optimizer.learning_rate = 1e-2
  c.baselines.ets = False
  result = train_and_evaluate(FORECAST, c, str(tmp_path / "w"), log=_quiet)
  test = result["test"]
  assert test["rnn"]["rmse"] < 1.15 * SIGMA
  assert test["arima"]["rmse"] < 1.15 * SIGMA
  assert test["naive"]["rmse"] > 1.8 * SIGMA
  assert result["beats_seasonal_naive"]
  losses = [m["loss"] for m in read_metrics(str(tmp_path / "w")) if m["split"] == "train"]
  # standardised units: the best one-step MSE is sigma^2 / var(y) = 0.61 here; the first ~1
  assert np.mean(losses[-50:]) < 0.7 < np.mean(losses[:3])
  saved = json.loads((tmp_path / "w" / "results.json").read_text())
  assert saved["test"]["rnn"] == test["rnn"]


def test_statistics_come_from_the_training_part_only(tmp_path):
  y = ar_series(120, seed=0, sigma=1.0)
  a = FORECAST.data(forecast_config(tmp_path / "a", y), None)
  split = a.extra["split"]
  changed = y.copy()
  changed[split.train_end:] = changed[split.train_end:] * 10 + 500
  b = FORECAST.data(forecast_config(tmp_path / "b", changed), None)
  assert (a.meta["mean"], a.meta["std"], a.meta["mase_scale"]) == (
      b.meta["mean"], b.meta["std"], b.meta["mase_scale"])
  for key, value in a.extra["parts"]["train"].items():
    np.testing.assert_array_equal(value, b.extra["parts"]["train"][key])
  assert not np.array_equal(a.extra["parts"]["test"]["truth"], b.extra["parts"]["test"]["truth"])


@pytest.mark.parametrize("mode", ["seq2seq"])
def test_resume_is_exact(tmp_path, mode):
  y = ar_series(150, seed=5, sigma=1.0)

  def run(workdir, steps):
    c = forecast_config(tmp_path, y, num_steps=steps, log_every=1, eval_every=20,
                        checkpoint_every=11)
    c.model.mode, c.baselines.arima, c.baselines.ets = mode, False, False
    return train_and_evaluate(FORECAST, c, str(workdir), log=_quiet)

  straight = run(tmp_path / "a", 40)
  run(tmp_path / "b", 20)  # mid-epoch (7 steps an epoch); both runs evaluate at 20 and 40
  resumed = run(tmp_path / "b", 40)
  assert resumed["test"]["rnn"] == straight["test"]["rnn"]
  assert resumed["validation"]["rnn"] == straight["validation"]["rnn"]
  a = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "a")) if m["split"] == "train"}
  b = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"}
  for step in range(21, 41):
    assert b[step] == pytest.approx(a[step], rel=1e-6)


def classify_config(tmp_path, **train):
  write_ts_like(tmp_path / "raw", sizes=(90, 45), classes=tuple("123"))
  c = tiny_classify.get_config()
  c.data.manual_dir, c.data.data_dir = str(tmp_path / "raw"), str(tmp_path / "tfds")
  c.train.update(train)
  return c


def test_classifier_learns_variable_length_series_and_scores_do_not_depend_on_batching(
    tmp_path, monkeypatch):
  # The fake files carry JapaneseVowels' name but three classes: the dataset's label set
  # is patched for the test (the reader checks every label against it).
  from seqjax.data import timeseries as tsd
  src = tsd.CLASSIFICATION_SETS["japanese_vowels"]
  c = classify_config(tmp_path, num_steps=80, eval_every=40)
  monkeypatch.setitem(tsd.CLASSIFICATION_SETS, "japanese_vowels",
                      type(src)(**{**src.__dict__, "classes": ("1", "2", "3")}))
  result = train_and_evaluate(CLASSIFY, c, str(tmp_path / "w"), log=_quiet)
  test = result["test"]
  assert test["count"] == 45 and test["accuracy"] > 0.8  # chance is 1/3
  assert test["dtw_1nn_accuracy"] > 0.5
  data, model, state = harness.build(CLASSIFY, c)
  scores = {}
  for size in (4, 7, 256):
    c.train.eval_batch_size = size
    data = CLASSIFY.data(c, None)
    scores[size] = harness.evaluate(CLASSIFY, c, data, model, state.params, "test")
  assert scores[4]["accuracy"] == scores[7]["accuracy"] == scores[256]["accuracy"]
  assert scores[4]["loss"] == pytest.approx(scores[256]["loss"], rel=1e-6)


def test_stratified_split():
  labels = np.array([0] * 10 + [1] * 5 + [2] * 2)
  train, valid = stratified_split(labels, 0.2, seed=0)
  assert np.bincount(labels[valid]).tolist() == [2, 1, 1]
  assert sorted(np.concatenate([train, valid]).tolist()) == list(range(17))
  assert len(stratified_split(labels, 0.0, seed=0)[1]) == 0


@pytest.mark.parametrize("args, message", [
    (["--config.task=regress"], "config.task must be one of ['classify', 'forecast']; got "
                                "'regress'"),
    (["--config.data.horizon=20"], "data.horizon=20 must fit in data.test_size=12"),
    (["--config.model.mode=ar"], "model.mode must be one of ['recursive', 'direct', 'seq2seq']"),
    (["--config.data.name=nile"], "data.name must be one of ['airline', 'co2', 'elnino', "
                                  "'sunspots']"),
])
def test_bad_config_is_one_line_error(tmp_path, args, message):
  assert_one_line_error("experiments.timeseries.main", [
      "--config=experiments/timeseries/configs/tiny.py", f"--workdir={tmp_path}", *args],
      message)


def test_malformed_raw_files_name_their_line(tmp_path):
  write_sunspots_like(tmp_path / "raw", np.arange(50.0))
  path = tmp_path / "raw" / "sunspots.csv"
  lines = path.read_text().split("\n")
  lines[7] = "1706,lots"
  path.write_text("\n".join(lines))
  assert_one_line_error("experiments.timeseries.main", [
      "--config=experiments/timeseries/configs/tiny.py", f"--workdir={tmp_path / 'w'}",
      f"--config.data.manual_dir={tmp_path / 'raw'}", f"--config.data.data_dir={tmp_path / 't'}"],
      "sunspots.csv:8: 'lots' is not a number")
  write_ts_like(tmp_path / "ts", sizes=(6, 4))
  train = tmp_path / "ts" / "JapaneseVowels_TRAIN.ts"
  train.write_text(train.read_text().replace(":1\n", ":10\n", 1))
  assert_one_line_error("experiments.timeseries.main", [
      "--config=experiments/timeseries/configs/tiny_classify.py", f"--workdir={tmp_path / 'v'}",
      f"--config.data.manual_dir={tmp_path / 'ts'}", f"--config.data.data_dir={tmp_path / 't'}"],
      "has label '10', not one of")


def test_a_checkpoint_of_another_shape_names_the_first_array(tmp_path):
  """--allow_config_change with another hidden size: one line naming the array and both
  shapes (before: the first line of a long orbax error)."""
  y = ar_series(150, seed=5, sigma=1.0)
  c = forecast_config(tmp_path, y, num_steps=10, eval_every=10, checkpoint_every=10)
  c.baselines.arima = c.baselines.ets = False
  train_and_evaluate(FORECAST, c, str(tmp_path / "w"), log=_quiet)
  c.model.rnn.hidden_size, c.train.num_steps = 32, 20
  with pytest.raises(Exception, match=r"does not fit the model this config builds: "
                                      r"params/encoder/layer_0/b has shape \(64,\) in the "
                                      r"checkpoint but \(128,\) in this config's model "
                                      r"\(11 more arrays differ\)"):
    train_and_evaluate(FORECAST, c, str(tmp_path / "w"), log=_quiet, allow_config_change=True)


def test_eval_mode_scores_a_trained_workdir_as_training_did(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  y = ar_series(150, seed=2, sigma=1.0)
  c = forecast_config(tmp_path, y, num_steps=20, eval_every=10, checkpoint_every=10)
  c.baselines.ets = False
  result = train_and_evaluate(FORECAST, c, str(tmp_path / "w"), log=_quiet)
  args = [sys.executable, "-m", "experiments.timeseries.main",
          "--config=experiments/timeseries/configs/tiny.py", f"--workdir={tmp_path / 'w'}",
          f"--config.data.manual_dir={tmp_path / 'raw'}",
          f"--config.data.data_dir={tmp_path / 'tfds'}", "--config.baselines.ets=False",
          "--mode=eval"]
  root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
  proc = subprocess.run(args + ["--split=test"], cwd=root, capture_output=True, text=True,
                        timeout=180)
  assert proc.returncode == 0, proc.stderr[-3000:]
  saved = json.loads((tmp_path / "w" / "eval_best.json").read_text())
  assert saved["step"] == result["best_step"] and list(saved) == ["checkpoint", "step", "test"]
  assert saved["test"]["rnn"] == pytest.approx(result["test"]["rnn"], rel=1e-6)
  assert saved["test"]["arima"]["mase"] == pytest.approx(result["test"]["arima"]["mase"])
  bad = subprocess.run(args + ["--split=train"], cwd=root, capture_output=True, text=True,
                       timeout=180)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1] == (
      "error: --split: ['train'] not among this task's evaluation splits ['test', 'validation']")
  assert_one_line_error("experiments.timeseries.main", [
      "--config=experiments/timeseries/configs/tiny.py", f"--workdir={tmp_path / 'none'}",
      "--mode=eval"], "is not a directory")


def test_a_restored_model_keeps_the_statistics_it_was_trained_with(tmp_path):
  """Evaluating a checkpoint on other data (data.manual_dir) must not re-standardise with that
  data's statistics: the saved ones are used, and the data summary says they differ."""
  c = classify_config(tmp_path)
  trained = CLASSIFY.data(c, None)
  write_ts_like(tmp_path / "other", sizes=(90, 45), classes=tuple("123"), seed=7)
  c.data.manual_dir, c.data.data_dir = str(tmp_path / "other"), str(tmp_path / "tfds2")
  fresh = CLASSIFY.data(c, None)
  restored = CLASSIFY.data(c, trained.meta)
  assert fresh.meta["mean"] != trained.meta["mean"]
  assert restored.meta["mean"] == trained.meta["mean"]
  assert "the checkpoint's are used" in restored.summary
  assert "checkpoint" not in fresh.summary
  mean, std = np.asarray(trained.meta["mean"]), np.asarray(trained.meta["std"])
  first = restored.extra["test"][0][0]
  raw = (first * std + mean)  # undoing the saved statistics gives the raw case back
  np.testing.assert_allclose(raw, (fresh.extra["test"][0][0] * np.asarray(fresh.meta["std"])
                                   + np.asarray(fresh.meta["mean"])), atol=1e-5)
  y = ar_series(150, seed=5, sigma=1.0)
  f_trained = FORECAST.data(forecast_config(tmp_path / "f", y), None)
  f_restored = FORECAST.data(forecast_config(tmp_path / "g", y * 3 + 1), f_trained.meta)
  assert f_restored.meta["mean"] == f_trained.meta["mean"]
  assert "which are used" in f_restored.summary


def test_a_classical_model_that_cannot_be_fit_is_reported_and_the_run_finishes(tmp_path,
                                                                               monkeypatch):
  from seqjax import timeseries as ts_lib  # pylint: disable=g-import-not-at-top

  def broken(*args, **kwargs):
    raise ValueError("fit_arima: no order gave a finite likelihood")

  monkeypatch.setattr(ts_lib, "fit_arima", broken)
  logs = []
  c = forecast_config(tmp_path, ar_series(120, seed=1, sigma=1.0), num_steps=10,
                      eval_every=10, checkpoint_every=10)
  c.baselines.ets = False
  result = train_and_evaluate(FORECAST, c, str(tmp_path / "w"), log=logs.append)
  assert result["test"]["arima"] == {
      "model": "arima", "failed": "ValueError: fit_arima: no order gave a finite likelihood"}
  assert "mase" in result["test"]["rnn"] and "beats_best_classical" not in result
  assert any("could not be fit: ValueError" in line for line in logs)
  assert (tmp_path / "w" / "results.json").exists()


def test_forecast_scores_do_not_depend_on_the_evaluation_batch(tmp_path):
  c = forecast_config(tmp_path, ar_series(150, seed=4, sigma=1.0))
  c.model.mode = "recursive"
  data, model, state = harness.build(FORECAST, c)
  scores = {}
  for size in (3, 7, 256):
    c.train.eval_batch_size = size
    scores[size] = harness.evaluate(FORECAST, c, FORECAST.data(c, None), model, state.params,
                                    "test")
  for key in ("mae", "rmse", "smape", "mase", "loss"):
    assert scores[3][key] == pytest.approx(scores[256][key], rel=1e-6)
    assert scores[7][key] == pytest.approx(scores[256][key], rel=1e-6)
