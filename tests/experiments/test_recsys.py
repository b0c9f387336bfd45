"""The recsys experiment end to end: generated walks, the real DIGINETICA sample, resume with
the carried state, and one-line errors."""

import json
import pathlib

import pytest

from experiments.recsys.task import TASK
from seqjax.train.trainer import train_and_evaluate
from experiments.recsys.configs import tiny
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error, shared_data


def config(data, **train_overrides):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.train.update(train_overrides)
  return c


def _quiet(_):
  pass


@pytest.mark.parametrize("loss", ["in_batch", pytest.param("full", marks=pytest.mark.slow)])
def test_gru4rec_learns_the_walks_and_beats_popularity(diginetica_like, tmp_path, loss):
  result = train_and_evaluate(TASK, config(diginetica_like, loss=loss, num_steps=100,
                                           eval_every=50), str(tmp_path), log=_quiet)
  for split in ("validation", "test"):
    scores = result[split]
    assert scores["gru4rec"]["recall@20"] > 0.95  # the next item follows from the last one
    assert scores["gru4rec"]["mrr@20"] > 0.5
    assert scores["pop"]["recall@20"] < 0.8  # 40 items, near-uniform popularity
    assert scores["item_knn"]["recall@20"] > 0.9  # co-occurrence finds the neighbours too
    assert scores["gru4rec"]["count"] == scores["pop"]["count"]  # the same examples
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["test"]["gru4rec"] == result["test"]["gru4rec"]


@pytest.mark.slow  # run with `pytest -m slow`
def test_sampled_negatives_train(diginetica_like, tmp_path):
  result = train_and_evaluate(TASK, config(diginetica_like, loss="sampled", num_samples=8,
                                           num_steps=60, eval_every=60), str(tmp_path),
                                    log=_quiet)
  losses = [m["loss"] for m in read_metrics(str(tmp_path)) if m["split"] == "train"]
  assert losses[-1] < losses[0] and result["test"]["gru4rec"]["count"] > 0


@pytest.mark.slow  # run with `pytest -m slow`
def test_resume_is_exact_with_the_carried_state(diginetica_like, tmp_path):
  def run(workdir, steps):
    return train_and_evaluate(TASK, config(diginetica_like, num_steps=steps, log_every=1,
                                           eval_every=20, checkpoint_every=7),
                                    str(workdir), log=_quiet)

  straight = run(tmp_path / "a", 40)
  run(tmp_path / "b", 23)  # stops mid-epoch, mid-session in most lanes
  resumed = run(tmp_path / "b", 40)
  assert resumed["test"]["gru4rec"] == straight["test"]["gru4rec"]
  a = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "a")) if m["split"] == "train"}
  b = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"}
  for step in range(24, 41):
    assert b[step] == pytest.approx(a[step], rel=1e-6)


def test_real_diginetica_sample_smoke(tmp_path):
  root = shared_data("diginetica_sample")
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(root), str(tmp_path / "tfds")
  c.data.min_item_support, c.data.test_days, c.data.valid_days = 5, 7.0, 7.0  # SR-GNN's split
  c.train.num_steps, c.train.eval_every = 20, 20
  result = train_and_evaluate(TASK, c, str(tmp_path / "run"), log=_quiet)
  assert result["num_items"] == 312 and result["test"]["pop"]["count"] == 102
  assert 0.0 <= result["test"]["gru4rec"]["recall@20"] <= 1.0


@pytest.mark.parametrize("args, message", [
    (["--config.train.loss=top1"], "train.loss must be one of ['full', 'in_batch', 'sampled']"),
    (["--config.data.name=rsc15"], "data.name must be one of"),
    (["--config.train.loss=sampled"], "train.num_samples must be a positive int; got 0"),
])
def test_bad_config_is_one_line_error(tmp_path, args, message):
  assert_one_line_error("experiments.recsys.main", [
      "--config=experiments/recsys/configs/tiny.py", f"--workdir={tmp_path}", *args], message)


def test_malformed_log_names_its_line(diginetica_like, tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  source = pathlib.Path(diginetica_like["manual_dir"]) / "sample_train-item-views.csv"
  text = source.read_text().split("\n")
  text[5] = "3;NA;abc;17;2016-05-02"
  (raw / "sample_train-item-views.csv").write_text("\n".join(text))
  assert_one_line_error("experiments.recsys.main", [
      "--config=experiments/recsys/configs/tiny.py", f"--workdir={tmp_path / 'w'}",
      f"--config.data.manual_dir={raw}", f"--config.data.data_dir={tmp_path / 'tfds'}"],
      "sample_train-item-views.csv:6: session_id, item_id and timeframe must be integers")
