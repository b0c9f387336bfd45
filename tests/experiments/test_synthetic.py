"""The synthetic-task experiment: learning, diagnostics logging, resume, errors."""

import pytest

from experiments.synthetic import train
from experiments.synthetic.configs import tiny
from seqjax.train.writer import read_metrics
from tests.conftest import assert_one_line_error


def _quiet(_):
  pass


@pytest.mark.slow  # run with `pytest -m slow`
def test_lstm_learns_the_short_adding_problem(tmp_path):
  c = tiny.get_config()
  c.data.length = 8
  c.model.hidden_size = 32
  c.optimizer.learning_rate = 1e-2
  c.train.num_steps, c.train.eval_every, c.train.batch_size = 300, 150, 64
  result = train.train_and_evaluate(c, str(tmp_path), log=_quiet)
  assert result["final"]["mse"] < 0.05  # the baseline of predicting 1 is 0.167


@pytest.mark.slow  # run with `pytest -m slow`
def test_diagnostics_are_logged_and_resume_is_exact(tmp_path):
  def run(workdir, steps):
    c = tiny.get_config()
    c.data.task, c.model.cell = "copy", "gru"
    c.train.num_steps, c.train.log_every, c.train.diagnose_every = steps, 1, 2
    c.train.checkpoint_every = 4
    return train.train_and_evaluate(c, str(workdir), log=_quiet)

  run(tmp_path / "a", 8)
  run(tmp_path / "b", 4)
  run(tmp_path / "b", 8)
  a = {m["step"]: m for m in read_metrics(str(tmp_path / "a")) if m["split"] == "train"}
  b = {m["step"]: m for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"}
  for step in range(5, 9):
    assert b[step]["loss"] == pytest.approx(a[step]["loss"], rel=1e-6)
  assert "dLdh_at_00" in a[2] and "dLdh_at_39" in a[2] and "dLdh_at_00" not in a[3]
  assert a[2]["grad_norm_clipped"] == pytest.approx(min(a[2]["grad_norm"], 1.0))


@pytest.mark.parametrize("args,message", [
    (["--config.model.cell=lstm", "--config.model.parallel=True"],
     "model.parallel needs a linear-recurrence cell"),
    (["--config.data.task=sort"], "data.task must be one of"),
    (["--config.train.diagnose_every=5", "--config.model.num_layers=2"],
     "train.diagnose_every needs model.num_layers=1"),
])
def test_cli_errors_are_one_line(args, message, tmp_path):
  assert_one_line_error("experiments.synthetic.main", [
      f"--workdir={tmp_path}", "--config=experiments/synthetic/configs/tiny.py", *args], message)
