"""The word2vec experiment end to end on a generated two-topic corpus: neighbours, the exported
vectors read back by the sentiment experiment's loader, resume and one-line errors."""

import json

import numpy as np
import pytest

from experiments.word2vec.task import TASK
from seqjax.train.trainer import train_and_evaluate
from experiments.word2vec.configs import tiny
from seqjax.data.vectors import load_vectors
from seqjax.data.vocab import Vocabulary
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error, shared_data
from tests.fakes.data import write_topics


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
  root = tmp_path_factory.mktemp("topics")
  write_topics(root / "raw")
  return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}


def config(data, **train_overrides):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.eval.probe_words = ("a1", "b2", "zzz")
  c.train.update(train_overrides)
  return c


def _quiet(_):
  pass


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_words_of_a_topic_become_neighbours_and_vectors_load(topics, tmp_path, mode):
  c = config(topics)
  c.model.mode = mode
  result = train_and_evaluate(TASK, c, str(tmp_path), log=_quiet)
  near = result["neighbours"]
  assert set(near) == {"a1", "b2"}  # a probe word outside the vocabulary is left out
  assert all(w.startswith("a") for w, _ in near["a1"])
  assert all(w.startswith("b") for w, _ in near["b2"])
  evals = [m for m in read_metrics(str(tmp_path)) if m["split"] == "eval"]
  assert evals[-1]["loss"] < evals[0]["loss"]
  vocab = Vocabulary(["<pad>", "<unk>", "a1", "b2", "missing"])
  table, found = load_vectors(str(tmp_path / "vectors.txt"), vocab)
  assert found == 2 and table.shape == (5, 16)
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["vocab_size"] == 20 and (tmp_path / "neighbours.txt").read_text().startswith("a1:")


@pytest.mark.slow  # run with `pytest -m slow`
def test_resume_is_exact(topics, tmp_path):
  def run(workdir, steps):
    # A constant learning rate: the linear decay is a function of train.num_steps, which this
    # test changes to stop the first run early.
    return train_and_evaluate(TASK, config(topics, num_steps=steps, log_every=1, eval_every=50,
                                           checkpoint_every=25, final_learning_rate=1.0),
                                    str(workdir), log=_quiet)

  straight = run(tmp_path / "a", 100)
  run(tmp_path / "b", 60)
  resumed = run(tmp_path / "b", 100)
  assert resumed["validation_last"]["loss"] == pytest.approx(
      straight["validation_last"]["loss"], rel=1e-6)
  a = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "a")) if m["split"] == "train"}
  b = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"}
  for step in range(61, 101):
    assert b[step] == pytest.approx(a[step], rel=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--config.model.mode=glove"], "model.mode must be one of ['skipgram', 'cbow']"),
    (["--config.data.window=0"], "data.window must be a positive int; got 0"),
    (["--config.data.name=wiki"], "data.name must be one of ['ptb', 'imdb']"),
])
def test_bad_config_is_one_line_error(tmp_path, args, message):
  assert_one_line_error("experiments.word2vec.main", [
      "--config=experiments/word2vec/configs/tiny.py", f"--workdir={tmp_path}", *args], message)


@pytest.mark.slow  # run with `pytest -m slow`
def test_tiny_config_on_real_ptb(tmp_path):
  root = shared_data("ptb")
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(root), str(tmp_path / "tfds")
  c.data.min_count, c.data.sample = 5, 1e-3
  c.train.num_steps, c.train.eval_every = 200, 200
  c.eval.probe_words, c.eval.analogy_top = ("three",), 5000
  result = train_and_evaluate(TASK, c, str(tmp_path / "run"), log=_quiet)
  assert result["vocab_size"] == 9858  # PTB's 10k words less those seen under 5 times
  assert set(result["analogy_pairs"]) == {"s", "ed", "ing"}
  assert result["validation"]["loss"] < 4.0  # 5 negatives at init: 6 log 2 ≈ 4.16
  with open(tmp_path / "run" / "vectors.txt") as f:
    assert f.readline().split() == ["9858", "16"]
