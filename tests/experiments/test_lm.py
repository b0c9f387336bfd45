"""The LM experiment end to end on generated PTB-format text and (when present) real PTB."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.lm import sample
from experiments.lm import task as task_lib
from experiments.lm.task import TASK
from seqjax.data.vocab import Vocabulary
from seqjax.train.trainer import restore, train_and_evaluate
from tests.experiments import harness
from experiments.lm.configs import tiny
from seqjax.train import Checkpointer
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error, shared_data
from tests.train.test_trainer import ToyTask

def config(data, **train_overrides):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.train.log_every = 1
  c.train.update(train_overrides)
  return c


def train_losses(workdir):
  return {m["step"]: m["loss"] for m in read_metrics(str(workdir)) if m["split"] == "train"}


@pytest.mark.slow  # run with `pytest -m slow`
def test_two_steps_finite_and_every_parameter_changes(ptb_like, tmp_path):
  c = config(ptb_like, num_steps=2, test_at_end=False)
  c.sample.length = 0
  train_and_evaluate(TASK, c, str(tmp_path), log=lambda _: None)
  losses = train_losses(tmp_path)
  assert sorted(losses) == [1, 2] and all(math.isfinite(v) for v in losses.values())
  data, _, init = harness.build(TASK, c)
  corpus = data.extra["vocab"]
  ckpt = Checkpointer(str(tmp_path))
  trained, data_state, meta = ckpt.restore(init)
  ckpt.close()
  assert int(trained.step) == 2 and data_state == {"epoch": 0, "window": 2}
  assert meta["vocab"]["tokens"] == corpus.tokens
  for (path, before), after in zip(jax.tree_util.tree_leaves_with_path(init.params),
                                   jax.tree.leaves(trained.params)):
    assert np.any(np.asarray(before) != np.asarray(after)), f"{path} did not change"


def test_loss_decreases_and_resume_is_exact(ptb_like, tmp_path):
  straight = train_and_evaluate(TASK, config(ptb_like), str(tmp_path / "a"), log=lambda _: None)
  losses = train_losses(tmp_path / "a")
  assert np.mean([losses[s] for s in range(16, 21)]) < np.mean([losses[s] for s in range(1, 6)]) - 0.3
  # A run stopped after step 12 (mid-epoch) and started again with the same workdir.
  train_and_evaluate(TASK, config(ptb_like, num_steps=12), str(tmp_path / "b"),
                           log=lambda _: None)
  logs = []
  resumed = train_and_evaluate(TASK, config(ptb_like), str(tmp_path / "b"), log=logs.append)
  assert any(line.startswith("resumed from") and "at step 12" in line for line in logs)
  again = train_losses(tmp_path / "b")
  for s in range(13, 21):
    assert again[s] == pytest.approx(losses[s], abs=1e-6), s
  assert resumed["test"]["loss"] == pytest.approx(straight["test"]["loss"], abs=1e-6)
  assert resumed["steps"] == 20
  # Sampling from the checkpoint uses the saved vocabulary.
  run = restore(TASK, str(tmp_path / "b"))
  vocab = Vocabulary.from_json(run.meta["vocab"])
  text = sample.generate(run.model, run.params, vocab, run.config.data.tokenizer,
                         prompt="w3 w4", length=8)
  words = text.split()
  assert text.startswith("w3 w4 ") and all(w in vocab.ids for w in words)
  # 2 prompt words + 8 sampled tokens; each sampled <eos> comes back as a newline.
  assert len(words) + text.count("\n") == 2 + 8


def test_uniform_model_perplexity_is_vocabulary_size(ptb_like):
  c = config(ptb_like)
  c.train.eval_batch_size, c.train.bptt = 3, 4
  data, model, state = harness.build(TASK, c)
  params = dict(state.params)
  params["softmax"] = jax.tree.map(jnp.zeros_like, params["softmax"])
  result = harness.evaluate(TASK, c, data, model, params, "test")
  vocab = len(data.extra["vocab"])
  assert math.exp(result["loss"]) == pytest.approx(vocab, rel=1e-5)
  test_tokens = len(task_lib.load_corpus(c).splits["test"])
  assert result["tokens"] == 3 * (test_tokens // 3 - 1)


@pytest.mark.slow  # run with `pytest -m slow`
def test_tiny_config_on_real_ptb(tmp_path):
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(shared_data("ptb")), str(tmp_path / "tfds")
  c.train.eval_batch_size, c.train.num_steps = 256, 20
  result = train_and_evaluate(TASK, c, str(tmp_path / "run"), log=lambda _: None)
  losses = train_losses(tmp_path / "run")  # logged every 5 steps
  assert losses[20] < losses[5]
  # Better than a uniform guess over the 10,000 words after 20 steps.
  assert result["test"]["ppl"] < 10000 and result["validation"]["ppl"] < 10000
  assert result["test"]["tokens"] == 256 * (82430 // 256 - 1)


def test_sample_names_a_missing_or_old_workdir(tmp_path):
  assert_one_line_error("experiments.lm.sample", [f"--workdir={tmp_path / 'nope'}"],
                        "is not a directory")
  (tmp_path / "empty").mkdir()
  assert_one_line_error("experiments.lm.sample", [f"--workdir={tmp_path / 'empty'}"],
                        "no best checkpoint under")
  assert_one_line_error("experiments.lm.sample", [f"--workdir={tmp_path}", "--length=0"],
                        "--length must be >= 1; got 0")
  assert_one_line_error("experiments.lm.sample", [f"--workdir={tmp_path}", "--temperature=-1"],
                        "--temperature must be a finite number >= 0 (0: greedy); got -1.0")
  # A workdir another task trained.
  task = ToyTask()
  config = task.schema()
  config.train.num_steps = 10
  train_and_evaluate(task, config, str(tmp_path / "toy"), log=lambda _: None)
  assert_one_line_error("experiments.lm.sample", [f"--workdir={tmp_path / 'toy'}"],
                        f"--workdir={tmp_path / 'toy'} holds a 'toy' run, not 'lm'")


def test_a_prompt_character_outside_the_vocabulary_is_named():
  vocab = Vocabulary.build(list("abc "), unk=None)
  with pytest.raises(ValueError, match="token 'z' is not in the vocabulary"):
    sample.generate(None, None, vocab, "characters", prompt="abz", length=3)


@pytest.mark.parametrize("args,message", [
    (["--config=experiments/lm/configs/nope.py"], "nope.py"),
    (["--config=experiments/lm/configs/tiny.py", "--config.model.rnn.hiden_size=3"],
     "'hiden_size' Did you mean \"hidden_size\""),
    (["--config=experiments/lm/configs/tiny.py", "--config.data.manual_dir=/nonexistent"],
     "data.manual_dir='/nonexistent' is not a directory"),
    (["--config=experiments/lm/configs/tiny.py", "--config.optimizer.name=lamb"],
     "optimizer.name must be one of"),
    (["--config=experiments/lm/configs/tiny.py", "--config.train.batch_size=0"],
     "train.batch_size must be a positive int; got 0"),
    (["--config=experiments/lm/configs/tiny.py", "--config.model.dropout_rate=1.5"],
     "model.dropout_rate must be in [0, 1)"),
])
def test_cli_errors_are_one_line(args, message, tmp_path):
  assert_one_line_error("experiments.lm.main", [f"--workdir={tmp_path}", *args], message)


@pytest.mark.parametrize("kind", ["window", "window_tied", "rnn_cell"])
def test_baselines_train_through_the_same_lm_task(kind, ptb_like, tmp_path):
  """The fixed-window LM and the vanilla (tanh) RNN LM are configs of the one LM task: the same
  stream, carry, loss and perplexity code as the LSTM (ppl = exp(mean NLL over every token))."""
  c = config(ptb_like, num_steps=20, test_at_end=True)
  c.sample.length = 0
  if kind in ("window", "window_tied"):
    c.model.kind, c.model.embed_size = "window", 16
    c.model.window.context, c.model.window.hidden_size = 3, 32
    c.model.tie_weights = kind == "window_tied"
  else:
    c.model.rnn.cell, c.model.rnn.cell_options = "rnn", {"activation": "tanh"}
  result = train_and_evaluate(TASK, c, str(tmp_path), log=lambda _: None)
  losses = train_losses(tmp_path)
  assert np.mean([losses[s] for s in range(16, 21)]) < np.mean([losses[s] for s in range(1, 6)])
  for split in ("validation", "test"):
    assert result[split]["ppl"] == pytest.approx(math.exp(result[split]["loss"]), rel=1e-6)


def test_window_kind_rejects_rnn_only_options(tmp_path):
  assert_one_line_error(
      "experiments.lm.main",
      ["--config=experiments/lm/configs/tiny.py", f"--workdir={tmp_path}",
       "--config.model.kind=window", "--config.model.embed_dropout=0.1",
       "--config.model.embed_size=8"],
      "model.embed_dropout is an RNNLM option; model.kind='window' does not take it")


def test_batch_shapes_larger_than_a_split_name_the_split_and_keys(ptb_like, tmp_path):
  from seqjax.train.task import InputError  # pylint: disable=g-import-not-at-top
  c = config(ptb_like)
  c.train.eval_batch_size = 100000
  with pytest.raises(InputError, match=r"the validation split of ptb_word \([\d,]+ tokens\) does "
                     r"not fit train.eval_batch_size=100000 rows of train.bptt=\d+ tokens: "):
    train_and_evaluate(TASK, c, str(tmp_path), log=lambda _: None)
