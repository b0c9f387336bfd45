"""Every option of the ``model.rnn`` section (an ``RNNSpec``) works in every task with a
recurrent part: sentiment, tagging and translation train with bf16 matmuls on the fused kernels,
and with zoneout and state dropout on the scan, from the same config keys the LM uses."""

import importlib
import json
import math

import pytest

from seqjax.train.trainer import restore, train_and_evaluate
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error

OPTIONS = {
    "bf16_fused": {"compute_dtype": "bfloat16", "backend": "fused"},
    "zoneout_scan": {"zoneout": 0.1, "state_dropout": 0.1, "backend": "scan"},
}
TASKS = {"sentiment": "sst2_like", "tagging": "conllu_like", "translate": "multi30k_like"}


def _config(task: str, data: dict, options: dict):
  c = importlib.import_module(f"experiments.{task}.configs.tiny").get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.model.rnn.update(options)
  c.train.update(num_steps=4, eval_every=4, log_every=1, test_at_end=False)
  return c


# ~40 s each (a data set prepared and two models compiled for four steps): all with the slow
# tests; the options themselves are tested against their equations in tests/recurrence.
@pytest.mark.slow
@pytest.mark.parametrize("task, options", [(t, o) for t in TASKS for o in OPTIONS])
def test_rnn_options_train_in_every_task(task, options, request, tmp_path):
  data = request.getfixturevalue(TASKS[task])
  module = importlib.import_module(f"experiments.{task}.task")
  config = _config(task, data, OPTIONS[options])
  train_and_evaluate(module.TASK, config, str(tmp_path), log=lambda _: None)
  records = read_metrics(str(tmp_path))
  train = [m for m in records if m["split"] == "train"]
  assert [m["step"] for m in train] == [1, 2, 3, 4]
  assert all(math.isfinite(m["loss"]) and m["grad_norm"] > 0 for m in train)
  evals = [m for m in records if m["split"] == "eval"]
  assert evals and all(math.isfinite(m["loss"]) for m in evals)
  saved = json.loads((tmp_path / "config.json").read_text())
  for key, value in OPTIONS[options].items():  # the run's record holds the options it ran with
    assert saved["model"]["rnn"][key] == value
  # The model rebuilt from the run's record carries them in its spec (what DeepRNN runs with).
  spec = restore(module.TASK, str(tmp_path)).model.rnn
  for key, value in OPTIONS[options].items():
    assert getattr(spec, key) == value, key


def test_a_spec_that_cannot_run_is_one_line_error(tmp_path):
  assert_one_line_error(
      "experiments.tagging.main",
      ["--config=experiments/tagging/configs/tiny.py", f"--workdir={tmp_path}",
       "--config.model.rnn.backend=associative"],
      "model.rnn.backend='associative' needs a linear-recurrence cell")
  assert_one_line_error(
      "experiments.sentiment.main",
      ["--config=experiments/sentiment/configs/tiny.py", f"--workdir={tmp_path}",
       "--config.model.rnn.cell=lstn"],
      "model.rnn.cell must be one of")
