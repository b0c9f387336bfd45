"""The sentiment experiment end to end: generated separable data, real SST-2, resume,
prediction and one-line errors."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from experiments.sentiment import predict
from experiments.sentiment.task import TASK
from seqjax.data.vocab import Vocabulary
from seqjax.train.trainer import restore, train_and_evaluate
from experiments.sentiment.configs import tiny
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error, shared_data

REPO = pathlib.Path(__file__).resolve().parents[2]


def config(data, **train_overrides):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.train.update(train_overrides)
  return c


def _quiet(_):
  pass


@pytest.fixture(scope="module")
def trained(sst2_like, tmp_path_factory):
  """The tiny config trained on the generated separable task (600 sentences)."""
  workdir = tmp_path_factory.mktemp("sentiment_tiny")
  result = train_and_evaluate(TASK, config(sst2_like, num_steps=80, eval_every=40),
                                    str(workdir), log=_quiet)
  return workdir, result


def test_tiny_model_learns_the_separable_task(trained):
  workdir, result = trained
  assert result["validation"]["accuracy"] > 0.9  # chance is ~0.5
  assert result["validation"]["count"] == 100
  assert sum(map(sum, result["validation"]["confusion"])) == 100
  assert "test" not in result  # the GLUE-style test file is unlabelled
  losses = [m["loss"] for m in read_metrics(str(workdir)) if m["split"] == "train"]
  assert losses[-1] < losses[0] - 0.3
  evals = [m for m in read_metrics(str(workdir)) if m["split"] == "eval"]
  best = max(evals, key=lambda m: m["accuracy"])
  assert result["best_step"] == best["step"]  # the best checkpoint is by validation accuracy
  saved = json.loads((workdir / "results.json").read_text())
  assert saved["validation"]["accuracy"] == result["validation"]["accuracy"]


@pytest.mark.slow  # run with `pytest -m slow`
def test_resume_is_exact(sst2_like, tmp_path):
  def run(workdir, steps):
    return train_and_evaluate(TASK, config(sst2_like, num_steps=steps, eval_every=20,
                                           log_every=1), str(workdir), log=_quiet)

  straight = run(tmp_path / "a", 40)
  run(tmp_path / "b", 25)  # stops mid-epoch (37 steps per epoch)
  resumed = run(tmp_path / "b", 40)
  np.testing.assert_allclose(resumed["validation_last"]["loss"],
                             straight["validation_last"]["loss"], rtol=1e-6)
  a = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "a")) if m["split"] == "train"}
  b = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"}
  for step in range(26, 41):  # every step after the restart, including the epoch boundary
    assert b[step] == pytest.approx(a[step], rel=1e-6)


def test_predict_classifies_new_sentences(trained, tmp_path):
  workdir, _ = trained
  predictor = predict.Predictor(str(workdir))
  out = predictor.classify(["w1 good3 w2 good5 w7", "w3 bad1 w4 bad6", "bad2 w9 w1 w2 w3"])
  assert [label for label, _, _ in out] == ["positive", "negative", "negative"]
  assert all(0.5 < p <= 1.0 and np.isclose(probs.sum(), 1.0) for _, p, probs in out)
  with pytest.raises(ValueError, match="sentence 2: empty sentence"):
    predictor.classify(["good1", "   "])
  (tmp_path / "in.txt").write_text("w1 good3 w2\n\nbad4 w8\n")
  proc = subprocess.run([sys.executable, "-m", "experiments.sentiment.predict",
                         f"--workdir={workdir}", f"--input={tmp_path / 'in.txt'}", "good2 w5"],
                        cwd=REPO, capture_output=True, text=True, timeout=180)
  assert proc.returncode == 0, proc.stderr
  lines = [line.split("\t") for line in proc.stdout.strip().splitlines()]
  assert [(l[0], l[2]) for l in lines] == [("positive", "good2 w5"), ("positive", "w1 good3 w2"),
                                           ("negative", "bad4 w8")]


@pytest.mark.parametrize("kind", [pytest.param("cnn", marks=pytest.mark.slow), "bow"])
def test_baselines_learn_the_separable_task(sst2_like, tmp_path, kind):
  c = config(sst2_like, num_steps=60, eval_every=60)
  c.model.kind, c.model.filter_widths, c.model.num_filters = kind, (2, 3), 8
  c.model.mlp_hidden = ()
  result = train_and_evaluate(TASK, c, str(tmp_path), log=_quiet)
  assert result["validation"]["accuracy"] > 0.9


@pytest.mark.slow  # run with `pytest -m slow`
def test_frozen_pretrained_vectors_end_to_end(sst2_like, tmp_path):
  rng = np.random.default_rng(0)
  words = ["good1", "bad1", "w1", "w2", "absent_word"]
  lines = [f"{w} " + " ".join(f"{v:.4f}" for v in rng.normal(size=16)) for w in words]
  (tmp_path / "vectors.txt").write_text("\n".join(lines) + "\n")
  c = config(sst2_like, num_steps=10, eval_every=10)
  c.data.pretrained_vectors = str(tmp_path / "vectors.txt")
  c.model.freeze_embeddings = True
  logs = []
  train_and_evaluate(TASK, c, str(tmp_path / "run"), log=logs.append)
  assert any("pretrained vectors: 4 of" in line for line in logs)
  run = restore(TASK, str(tmp_path / "run"), which="last")
  vocab, params = Vocabulary.from_json(run.meta["vocab"]), run.params
  table = np.asarray(params["embed"]["embedding"])
  np.testing.assert_allclose(table[vocab.ids["good1"]],
                             [float(v) for v in lines[0].split()[1:]], rtol=1e-6)
  c.model.embed_size = 8
  with pytest.raises(ValueError, match="16-dim vectors but model.embed_size is 8"):
    train_and_evaluate(TASK, c, str(tmp_path / "run8"), log=_quiet)


@pytest.mark.slow  # run with `pytest -m slow`
def test_tiny_config_on_real_sst2(tmp_path):
  root = shared_data("sst2")
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(root), str(tmp_path / "tfds")
  c.train.num_steps, c.train.eval_every = 30, 30
  result = train_and_evaluate(TASK, c, str(tmp_path / "run"), log=_quiet)
  assert result["validation"]["count"] == 872  # GLUE dev
  assert sum(result["validation"]["confusion"][0]) == 428  # negatives in dev
  assert 0.0 < result["validation"]["loss"] < 1.0
  assert "test" not in result


@pytest.mark.parametrize("args,message", [
    (["--config=experiments/sentiment/configs/tiny.py", "--config.model.poolng=max"],
     "'poolng' Did you mean \"pooling\""),
    (["--config=experiments/sentiment/configs/tiny.py", "--config.data.manual_dir=/nonexistent"],
     "data.manual_dir='/nonexistent' is not a directory"),
    (["--config=experiments/sentiment/configs/tiny.py", "--config.model.pooling=first"],
     "model.pooling must be one of"),
    (["--config=experiments/sentiment/configs/tiny.py", "--config.data.name=imdb"],
     "data.validation_holdout must be > 0 for imdb"),
    (["--config=experiments/sentiment/configs/tiny.py",
      "--config.data.pretrained_vectors=/nonexistent.txt"],
     "data.pretrained_vectors='/nonexistent.txt' is not a file"),
])
def test_cli_errors_are_one_line(args, message, tmp_path):
  assert_one_line_error("experiments.sentiment.main", [f"--workdir={tmp_path}", *args], message)


def test_missing_data_files_are_named(tmp_path):
  (tmp_path / "raw").mkdir()
  (tmp_path / "raw" / "train.tsv").write_text("sentence\tlabel\ngood \t1\n")
  c = tiny.get_config()
  c.data.manual_dir = str(tmp_path / "raw")
  with pytest.raises(FileNotFoundError, match=r"lacks \['dev.tsv', 'test.tsv'\]"):
    TASK.check(c)


def test_vectors_of_the_wrong_size_are_one_line_error(sst2_like, tmp_path):
  """A pretrained-vector file whose dimension differs from model.embed_size is found while the
  data is built: one line naming both keys, exit 2, no traceback."""
  vectors = tmp_path / "vectors.txt"
  vectors.write_text("good0 0.1 0.2 0.3\nbad0 0.3 0.2 0.1\n")
  assert_one_line_error(
      "experiments.sentiment.main",
      ["--config=experiments/sentiment/configs/tiny.py", f"--workdir={tmp_path / 'run'}",
       f"--config.data.manual_dir={sst2_like['manual_dir']}",
       f"--config.data.data_dir={sst2_like['data_dir']}",
       f"--config.data.pretrained_vectors={vectors}"],
      "data.pretrained_vectors has 3-dim vectors but model.embed_size is 16")


def test_kim_configs_cover_both_datasets_and_four_variants(tmp_path):
  from experiments.sentiment.configs import kim_cnn  # pylint: disable=g-import-not-at-top
  vectors = tmp_path / "vectors.txt"
  vectors.write_text("good 0.1 0.2\n")
  seen = set()
  for dataset in ("sst1", "sst2"):
    for variant in kim_cnn.VARIANTS:
      c = kim_cnn.get_config(f"{dataset},{variant}")
      if variant != "rand":
        assert c.data.pretrained_vectors == kim_cnn.VECTORS
        c.data.pretrained_vectors = str(vectors)
      TASK.check(c)
      seen.add((c.data.name, c.model.channels, c.model.freeze_embeddings,
                bool(c.data.pretrained_vectors), c.model.max_norm))
  assert len(seen) == 8
  assert_one_line_error(
      "experiments.sentiment.main",
      ["--config=experiments/sentiment/configs/kim_cnn.py:sst3,rand", f"--workdir={tmp_path}"],
      "DATASET must be one of ['sst1', 'sst2']")
