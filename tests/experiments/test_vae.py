"""The sentence-VAE experiment end to end on generated PTB-format text: sentence data, a loss
that decreases, exact resume, scores that do not depend on the evaluation batch size, the
generation CLI, and one-line errors."""

import json
import math

import numpy as np
import pytest

from experiments.vae import generate
from experiments.vae.configs import tiny
from experiments.vae.task import TASK
from seqjax.data import sentences as sentences_lib
from seqjax.train.trainer import restore, train_and_evaluate
from seqjax.train.writer import read_metrics
from tests.conftest import REPO, assert_one_line_error
from tests.experiments import harness


def config(data, **train):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.train.log_every = 1
  c.train.update(train)
  return c


def train_metrics(workdir):
  return {m["step"]: m for m in read_metrics(str(workdir)) if m["split"] == "train"}


def test_sentences_are_the_corpus_lines(ptb_like):
  corpus = sentences_lib.load_sentences("ptb_word", manual_dir=ptb_like["manual_dir"],
                                        data_dir=ptb_like["data_dir"])
  with open(f"{ptb_like['manual_dir']}/ptb.valid.txt", encoding="utf-8") as f:
    want = [line.split() for line in f if line.strip()]
  got = [corpus.vocab.decode(s) for s in corpus.splits["validation"]]
  assert got == want
  assert corpus.vocab.tokens[:2] == ["<pad>", "<bos>"] and "<eos>" in corpus.vocab.ids
  b = sentences_lib.sentence_batches(corpus, "validation", 16, shuffle=False, pad_multiple=8)
  seen = []
  for batch in b.epoch_batches():
    for r in range(16):
      n = int(batch["lengths"][r])
      if batch["weights"][r] == 0:
        assert n == 0 and batch["index"][r] == -1
        continue
      ids = corpus.splits["validation"][batch["index"][r]]
      assert batch["inputs"][r, 0] == corpus.bos_id
      np.testing.assert_array_equal(batch["inputs"][r, 1:n], ids)
      np.testing.assert_array_equal(batch["targets"][r, :n - 1], ids)
      assert batch["targets"][r, n - 1] == corpus.eos_id and np.all(batch["targets"][r, n:] == 0)
      seen.append(int(batch["index"][r]))
  assert sorted(seen) == list(range(len(corpus.splits["validation"])))


def test_loss_decreases_resume_is_exact_and_the_report_is_written(ptb_like, tmp_path):
  straight = train_and_evaluate(TASK, config(ptb_like), str(tmp_path / "a"), log=lambda _: None)
  m = train_metrics(tmp_path / "a")
  # Per token: a bucketed batch's per-sentence loss swings with its sentences' lengths.
  assert np.mean([m[s]["token_nll"] for s in range(16, 21)]) < np.mean(
      [m[s]["token_nll"] for s in range(1, 6)]) - 0.1
  # The KL weight follows the linear schedule over 10 steps (the weight of step s is s/10).
  assert [m[s]["kl_weight"] for s in (1, 5, 11, 20)] == pytest.approx([0.0, 0.4, 1.0, 1.0])
  # Stopped after step 12 (mid-epoch), then started again with the same workdir.
  train_and_evaluate(TASK, config(ptb_like, num_steps=12), str(tmp_path / "b"),
                     log=lambda _: None)
  resumed = train_and_evaluate(TASK, config(ptb_like), str(tmp_path / "b"), log=lambda _: None)
  m2 = train_metrics(tmp_path / "b")
  for s in range(1, 21):
    assert m2[s]["loss"] == m[s]["loss"], s
  for split in ("validation", "test"):
    assert resumed[split] == straight[split]
  test = straight["test"]
  assert test["loss"] == pytest.approx(test["recon"] + test["kl"])
  assert test["ppl"] == pytest.approx(math.exp(test["loss"] * test["sentences"] / test["tokens"]))
  assert 0 <= test["active_units"] <= 4 and test["is_samples"] == 4
  assert "is_nll" not in straight["validation"]  # eval.is_splits = ("test",)
  assert len(straight["samples"]) == 3 and len(straight["homotopies"][0]["path"]) == 3
  assert straight["impute"]["sentences"] == 8
  assert (tmp_path / "a" / "kl_recon.png").stat().st_size > 10_000
  assert "# homotopy" in (tmp_path / "a" / "samples.txt").read_text()


def test_scores_do_not_depend_on_the_evaluation_batch_size(ptb_like):
  c = config(ptb_like)
  data, model, state = harness.build(TASK, c)
  scores = []
  for size in (16, 5):
    c2 = config(ptb_like, eval_batch_size=size)
    d2 = TASK.data(c2, data.meta)
    scores.append(harness.evaluate(TASK, c2, d2, model, state.params, "validation"))
  for k in ("loss", "recon", "kl", "active_units", "tokens"):
    assert scores[0][k] == pytest.approx(scores[1][k], rel=1e-6), k


def test_rnnlm_baseline_and_inputless_runs(ptb_like, tmp_path):
  c = config(ptb_like, num_steps=6, eval_every=6, checkpoint_every=6)
  c.model.latent_size, c.model.word_keep, c.kl.anneal = 0, 0.0, "none"
  c.eval.is_samples, c.eval.num_homotopies, c.sample.temperature = 0, 0, 1.0
  result = train_and_evaluate(TASK, c, str(tmp_path), log=lambda _: None)
  assert result["test"]["kl"] == 0.0 and "active_units" not in result["test"]
  assert not (tmp_path / "kl_recon.png").exists()  # no KL to plot
  run = restore(TASK, str(tmp_path))
  assert run.model.latent_size == 0 and run.model.word_keep == 0.0


@pytest.fixture(scope="module")
def trained(ptb_like, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("vae_cli") / "run"
  train_and_evaluate(TASK, config(ptb_like, num_steps=10, test_at_end=False), str(workdir),
                     log=lambda _: None)
  return str(workdir)


def cli(*args):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  return subprocess.run([sys.executable, "-m", "experiments.vae.generate", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_generate_cli(trained, ptb_like):
  out = cli(f"--workdir={trained}", "--mode=sample", "--num=4")
  assert out.returncode == 0, out.stderr
  assert len(out.stdout.strip().splitlines()) == 4
  out = cli(f"--workdir={trained}", "--mode=homotopy", "--steps=4", "--sentences=w1 w2 w3|w9 w10")
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert lines[0] == "from: w1 w2 w3" and lines[-1] == "to:   w9 w10" and len(lines) == 6
  out = cli(f"--workdir={trained}", "--mode=impute", "--num=5", "--missing=2", "--beam_size=3",
            f"--baseline_workdir={trained}", f"--data_manual_dir={ptb_like['manual_dir']}")
  assert out.returncode == 0, out.stderr
  summaries = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
  assert len(summaries) == 2 and summaries[0]["sentences"] == 5
  assert summaries[0]["word_accuracy"] == summaries[1]["word_accuracy"]  # the same model


@pytest.mark.parametrize("args,message", [
    (["--mode=sample", "--num=0"], "--num must be >= 1; got 0"),
    (["--mode=homotopy", "--sentences=w1 w2"], "--sentences: give two sentences separated"),
    (["--mode=homotopy", "--sentences=w1 w2| "], "--sentences: an empty sentence"),
    (["--mode=impute", "--missing=30"], "--missing=30 leaves no test sentence to impute"),
])
def test_generate_cli_bad_flags(trained, args, message):
  assert_one_line_error("experiments.vae.generate", [f"--workdir={trained}", *args], message)


def test_generate_cli_says_which_words_are_unknown(trained):
  out = cli(f"--workdir={trained}", "--mode=homotopy", "--steps=2", "--sentences=w1 zebra|w2")
  assert out.returncode == 0, out.stderr
  assert "note: --sentences: not in the vocabulary, read as <unk>: zebra" in out.stderr
  assert out.stdout.splitlines()[0] == "from: w1 <unk>"


def test_generate_cli_refuses_identical_rnnlm_samples(ptb_like, tmp_path):
  c = config(ptb_like, num_steps=2, eval_every=2, checkpoint_every=2, test_at_end=False)
  c.model.latent_size, c.kl.anneal = 0, "none"
  train_and_evaluate(TASK, c, str(tmp_path / "lm"), log=lambda _: None)
  assert_one_line_error("experiments.vae.generate", [f"--workdir={tmp_path}/lm", "--num=3"],
                        "decodes the same sentence 3 times; set --temperature > 0")
  out = cli(f"--workdir={tmp_path}/lm", "--num=3", "--temperature=1")
  assert out.returncode == 0 and len(out.stdout.strip().splitlines()) == 3, out.stderr


def test_generate_cli_missing_workdir(tmp_path):
  assert_one_line_error("experiments.vae.generate", [f"--workdir={tmp_path}/none"],
                        "none")


@pytest.mark.parametrize("override,message", [
    ("--config.model.word_keep=1.5", "model.word_keep must be in [0, 1]; got 1.5"),
    ("--config.kl.anneal=cosine", "kl.anneal must be one of"),
    ("--config.model.decoder.bidirectional=True", "model.decoder.bidirectional must be False"),
    ("--config.eval.is_splits=('train',)", "eval.is_splits must be a list of values from"),
])
def test_bad_config_is_one_line(tmp_path, override, message):
  assert_one_line_error("experiments.vae.main",
                        ["--config=experiments/vae/configs/tiny.py", f"--workdir={tmp_path}",
                         override], message)


def test_homotopy_needs_a_latent_code():
  with pytest.raises(ValueError, match="needs a latent code"):
    generate.homotopy(type("M", (), {"latent_size": 0})(), None, None, None, None)
