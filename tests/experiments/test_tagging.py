"""The tagging experiment end to end: a generated treebank, real UD English-EWT, resume,
tagging new sentences and one-line errors."""

import json

import numpy as np
import pytest

from experiments.tagging import tag
from experiments.tagging.task import TASK
from seqjax.train.trainer import train_and_evaluate
from experiments.tagging.configs import tiny
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error, shared_data


def config(data, **train_overrides):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.train.update(train_overrides)
  return c


def _quiet(_):
  pass


@pytest.fixture(scope="module")
def trained(conllu_like, tmp_path_factory):
  """The tiny config trained on the generated toy grammar (400 sentences)."""
  workdir = tmp_path_factory.mktemp("tagging_tiny")
  result = train_and_evaluate(TASK, config(conllu_like, num_steps=120, eval_every=60),
                                    str(workdir), log=_quiet)
  return workdir, result


def test_tiny_tagger_learns_the_grammar_and_counts_only_real_words(trained):
  workdir, result = trained
  for split in ("validation", "test"):
    scores = result[split]
    assert scores["accuracy"] > 0.95  # the majority tag (NOUN) is ~0.25
    assert scores["oov_words"] > 0 and scores["oov_accuracy"] > 0.8  # unseen stems
    confusion = np.asarray(scores["confusion"])
    assert confusion.sum() == scores["words"]  # padding and filler rows never count
    assert scores["per_tag"]["PUNCT"]["f1"] == 1.0
  losses = [m["loss"] for m in read_metrics(str(workdir)) if m["split"] == "train"]
  assert losses[-1] < losses[0] / 3
  saved = json.loads((workdir / "results.json").read_text())
  assert saved["test"]["accuracy"] == result["test"]["accuracy"]


def test_tag_command_tags_new_sentences(trained, tmp_path):
  workdir, _ = trained
  tagger = tag.Tagger(str(workdir))
  out = tagger.tag([["the", "run", "st3xed", "."], ["a", "st5xous", "nu9ytion", "run", "."]])
  assert out == [["DET", "NOUN", "VERB", "PUNCT"], ["DET", "ADJ", "NOUN", "VERB", "PUNCT"]]
  with pytest.raises(FileNotFoundError, match="--workdir=.*nope' is not a directory"):
    tag.Tagger(str(tmp_path / "nope"))
  (tmp_path / "in.txt").write_text("the run st3xed .\n\n")
  with pytest.raises(ValueError, match="in.txt:2: empty line"):
    tag.read_sentences(str(tmp_path / "in.txt"))


@pytest.mark.slow  # run with `pytest -m slow`
def test_resume_is_exact(conllu_like, tmp_path):
  def run(workdir, steps):
    return train_and_evaluate(TASK, config(conllu_like, num_steps=steps, eval_every=20,
                                           log_every=1), str(workdir), log=_quiet)

  straight = run(tmp_path / "a", 30)
  run(tmp_path / "b", 18)  # stops mid-epoch (25 steps per epoch)
  resumed = run(tmp_path / "b", 30)
  assert resumed["validation_last"]["loss"] == pytest.approx(
      straight["validation_last"]["loss"], rel=1e-6)
  a = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "a")) if m["split"] == "train"}
  b = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"}
  for step in range(19, 31):
    assert b[step] == pytest.approx(a[step], rel=1e-6)


@pytest.mark.slow  # run with `pytest -m slow`
def test_tiny_config_on_real_ud_english_ewt(tmp_path):
  root = shared_data("ud_english_ewt")
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(root), str(tmp_path / "tfds")
  c.train.num_steps, c.train.eval_every = 40, 40
  result = train_and_evaluate(TASK, c, str(tmp_path / "run"), log=_quiet)
  assert result["test"]["words"] == 25094
  assert result["test"]["accuracy"] > 0.4  # majority tag NOUN is ~0.17; 40 steps of batch 16


@pytest.mark.parametrize("args, message", [
    (["--config.model.rnn.hiden_size=3"], 'Did you mean "hidden_size"'),
    (["--config.data.tag_field=lemma"], "data.tag_field must be one of ['upos', 'xpos']"),
    (["--config.data.manual_dir=/nonexistent"], "data.manual_dir='/nonexistent' is not a "
                                                "directory"),
])
def test_bad_config_is_one_line_error(tmp_path, args, message):
  assert_one_line_error("experiments.tagging.main", [
      "--config=experiments/tagging/configs/tiny.py", f"--workdir={tmp_path}", *args], message)


def test_malformed_training_file_names_its_line(conllu_like, tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  import gzip  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  for name in ("dev", "test"):
    shutil.copy(f"{conllu_like['manual_dir']}/en_ewt-ud-{name}.conllu", raw)
  with gzip.open(f"{conllu_like['manual_dir']}/en_ewt-ud-train.conllu.gz", "rt") as f:
    lines = f.read().split("\n")
  lines[2] = lines[2].replace("\tDET\t", "\tDETERMINER\t")
  (raw / "en_ewt-ud-train.conllu").write_text("\n".join(lines))
  assert_one_line_error("experiments.tagging.main", [
      "--config=experiments/tagging/configs/tiny.py", f"--workdir={tmp_path / 'w'}",
      f"--config.data.manual_dir={raw}", f"--config.data.data_dir={tmp_path / 'tfds'}"],
      "en_ewt-ud-train.conllu:3: unknown UPOS tag 'DETERMINER'")
