"""The translation experiment end to end: a generated word-for-word task, real Multi30k,
resume, the translate command and one-line errors."""

import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments.translate import task as translate_task, translate
from experiments.translate.task import TASK
from seqjax.data.translate import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from seqjax.train.trainer import read_run, restore, train_and_evaluate
from experiments.translate.configs import tiny
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error, shared_data

REPO = pathlib.Path(__file__).resolve().parents[2]


def config(data, **train_overrides):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.data.min_freq = 1
  c.model.embed_size, c.model.rnn.hidden_size = 24, 24
  c.model.dropout_rate = 0.0
  c.optimizer.learning_rate = 1e-2
  c.train.best_metric = "bleu"
  c.train.update(train_overrides)
  return c


def _quiet(_):
  pass


@pytest.fixture(scope="module")
def trained(multi30k_like, tmp_path_factory):
  """The tiny config trained on the generated word-for-word task (400 pairs, 25 steps/epoch)."""
  workdir = tmp_path_factory.mktemp("translate_tiny")
  result = train_and_evaluate(TASK, config(multi30k_like, num_steps=150, eval_every=50),
                                    str(workdir), log=_quiet)
  return workdir, result


def test_tiny_model_learns_word_for_word_translation(trained):
  workdir, result = trained
  test = result["test_2016_flickr"]
  assert test["bleu_greedy"] > 50 and test["bleu_beam2"] > 50  # untrained: ~0
  assert test["perplexity"] < 3.0  # from ~15 (14 English types + specials) at the start
  assert "case:lc" in test["signature"] and "tok:13a" in test["signature"]
  losses = [m["loss"] for m in read_metrics(str(workdir)) if m["split"] == "train"]
  assert losses[-1] < losses[0] - 1.0
  evals = [m for m in read_metrics(str(workdir)) if m["split"] == "eval"]
  assert result["best_step"] == max(evals, key=lambda m: m["bleu"])["step"]
  lines = (workdir / "translations" / "test_2016_flickr.beam2.txt").read_text().splitlines()
  assert len(lines) == 30 and all(line.startswith("e") for line in lines)
  png = pathlib.Path(test["plots"][0])
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  saved = json.loads((workdir / "results.json").read_text())
  assert saved["validation"]["bleu_greedy"] == result["validation"]["bleu_greedy"]


@pytest.mark.slow  # run with `pytest -m slow`
def test_translator_translates_new_sentences(trained, tmp_path):
  workdir, _ = trained
  translator = translate.Translator(str(workdir), beam_size=1)
  out = translator.translate(["d1 d2 d3", "d7 d0"])
  assert out == ["e1 e2 e3.", "e7 e0."]
  assert translator.translate(["d1 d2 d3"]) == translate.Translator(
      str(workdir), beam_size=3).translate(["d1 d2 d3"])
  with pytest.raises(ValueError, match="sentence 2 is empty"):
    translator.translate(["d1", " "])
  # Sampling at a low temperature reproduces the argmax; at a high one it varies by call.
  cold = translate.Translator(str(workdir), beam_size=1, temperature=1e-3)
  assert cold.translate(["d1 d2 d3"]) == ["e1 e2 e3."]
  hot = translate.Translator(str(workdir), beam_size=1, temperature=5.0, seed=1)
  assert len({hot.translate(["d1 d2 d3 d4 d5"])[0] for _ in range(4)}) > 1
  (tmp_path / "in.de").write_text("d4 d5\nd6 d6 d1\n")
  proc = subprocess.run([sys.executable, "-m", "experiments.translate.translate",
                         f"--workdir={workdir}", f"--input={tmp_path / 'in.de'}", "d3",
                         f"--plot_dir={tmp_path / 'plots'}"],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.splitlines() == ["e3.", "e4 e5.", "e6 e6 e1."]
  assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
      "attention_1.png", "attention_2.png", "attention_3.png"]
  (tmp_path / "bad.de").write_text("d4 d5\n\nd6\n")
  proc = subprocess.run([sys.executable, "-m", "experiments.translate.translate",
                         f"--workdir={workdir}", f"--input={tmp_path / 'bad.de'}"],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2 and "bad.de:2: empty sentence" in proc.stderr


@pytest.mark.slow  # run with `pytest -m slow`
def test_resume_is_exact(multi30k_like, tmp_path):
  def run(workdir, steps):
    c = config(multi30k_like, num_steps=steps, eval_every=100, log_every=1,
               checkpoint_every=100, batch_size=32)
    c.train.test_at_end = False
    c.train.best_metric = "loss"
    c.model.dropout_rate = 0.2  # the dropout RNG must resume too
    return train_and_evaluate(TASK, c, str(workdir), log=_quiet)

  run(tmp_path / "a", 16)
  run(tmp_path / "b", 9)
  run(tmp_path / "b", 16)  # resumes at step 9, crossing the epoch boundary at 12
  a = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "a")) if m["split"] == "train"}
  b = {m["step"]: m["loss"] for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"}
  for step in range(10, 17):
    assert b[step] == pytest.approx(a[step], rel=1e-6)


@pytest.mark.slow  # run with `pytest -m slow`
def test_sentencepiece_tokenizers_travel_with_the_checkpoint(multi30k_like, tmp_path):
  c = config(multi30k_like, num_steps=4, eval_every=4, checkpoint_every=4)
  c.data.tokenizer, c.data.vocab_size, c.data.lowercase = "sentencepiece", 18, False
  c.train.test_at_end = False
  c.data.source_lang, c.data.target_lang = "en", "de"  # the other direction
  train_and_evaluate(TASK, c, str(tmp_path), log=_quiet)
  run = restore(TASK, str(tmp_path))
  config_ = run.config
  src_tok, tgt_tok = translate_task.tokenizers_from_meta(run.meta)
  assert src_tok.kind == tgt_tok.kind == "sentencepiece" and len(src_tok) == 18
  assert config_.data.source_lang == "en"
  assert src_tok.decode(src_tok.encode("e1 e2 e3.")) == "e1 e2 e3."
  out = translate.Translator(str(tmp_path), beam_size=2).translate(["e1 e2 e3."])
  assert len(out) == 1 and isinstance(out[0], str)


@pytest.mark.slow  # run with `pytest -m slow`
def test_tiny_config_on_real_multi30k(tmp_path):
  root = shared_data("multi30k")
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(root), str(tmp_path / "tfds")
  result = train_and_evaluate(TASK, c, str(tmp_path / "run"), log=_quiet)
  assert result["steps"] == 6
  for split in ("validation", "test_2016_flickr"):
    assert 0.0 <= result[split]["bleu_greedy"] < 5.0  # six steps: not a translator yet
    # Six steps barely move it from where it starts, near the English vocabulary size (5,898).
    assert 1000 < result[split]["perplexity"] < 10_000
  # 13,454 word tokens of the 1,014 English validation sentences, plus one <eos> each.
  assert result["validation"]["tokens"] == 13_454 + 1_014
  lines = (tmp_path / "run" / "translations" / "test_2016_flickr.greedy.txt").read_text()
  assert len(lines.splitlines()) == 1000


@pytest.mark.parametrize("args,message", [
    (["--config.model.atention=dot"], "'atention' Did you mean \"attention\""),
    (["--config.data.manual_dir=/nonexistent"], "data.manual_dir='/nonexistent' is not a dir"),
    (["--config.model.attention=cosine"], "model.attention must be one of"),
    (["--config.data.target_lang=de"], "data.source_lang and data.target_lang must differ"),
    (["--config.model.input_feeding=True"], "model.input_feeding needs model.style='luong'"),
    (["--config.decode.test_splits=('test_2019',)"], "decode.test_splits has unknown splits"),
])
def test_cli_errors_are_one_line(args, message, tmp_path):
  assert_one_line_error("experiments.translate.main", [
      f"--workdir={tmp_path}", "--config=experiments/translate/configs/tiny.py", *args], message)


def test_missing_data_files_are_named(tmp_path):
  (tmp_path / "raw").mkdir()
  c = tiny.get_config()
  c.data.manual_dir = str(tmp_path / "raw")
  with pytest.raises(FileNotFoundError, match=r"lacks \['train.en', 'train.de'"):
    TASK.check(c)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_translation_does_not_depend_on_its_batch(trained, beam_size):
  """Each sentence decodes to the same tokens alone and beside longer ones (its length limit is
  ``max_len_a * its own length + max_len_b``, not its batch's padded width), with the trained
  parameters and with parameters that never end a sentence."""
  workdir, _ = trained
  translator = translate.Translator(str(workdir), beam_size=beam_size)
  sentences = ["d1 d2 d3", "d7", "d4 d5 d6 d7 d8 d9 d0 d1 d2 d3 d4 d5 d6 d7 d8 d9 d0 d1", "d2 d2"]
  # Parameters that never choose <eos> (nor another special token): every row runs to its own
  # limit.
  endless = dict(translator.params)
  endless["out_bias"] = endless["out_bias"].at[np.array([PAD_ID, UNK_ID, BOS_ID, EOS_ID])].set(
      -1e4)
  for params in (translator.params, endless):
    translator.params = params
    alone = [translator.translate_ids([s])[0] for s in sentences]
    together = translator.translate_ids(sentences)
    in_pairs = translator.translate_ids(sentences, batch_size=2)
    assert [list(t) for t in together] == [list(a) for a in alone]
    assert [list(t) for t in in_pairs] == [list(a) for a in alone]
  # Each row filled its own limit less the <eos> forced there (stripped): a * S + b for a
  # source of S tokens (its <eos> included), not the longest sentence's.
  dec = read_run(str(workdir))[1].decode
  sources = [len(ids) for ids in translator.encode(sentences)]
  limits = [int(dec.max_len_a * n + dec.max_len_b) - 1 for n in sources]
  assert [len(a) for a in alone] == limits and len(set(limits)) == len(limits)
