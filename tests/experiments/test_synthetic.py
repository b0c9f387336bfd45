"""The synthetic-task experiment: learning, diagnostics logging, resume, errors."""

import json
import subprocess
import sys

import pytest

from experiments.synthetic import compare
from experiments.synthetic.task import TASK
from seqjax.train.trainer import train_and_evaluate
from experiments.synthetic.configs import tiny
from seqjax.train.writer import read_metrics
from tests.conftest import REPO, assert_one_line_error


def _quiet(_):
  pass


@pytest.mark.slow  # run with `pytest -m slow`
def test_lstm_learns_the_short_adding_problem(tmp_path):
  c = tiny.get_config()
  c.data.length = 8
  c.model.rnn.hidden_size = 32
  c.optimizer.learning_rate = 1e-2
  c.train.num_steps, c.train.eval_every, c.train.batch_size = 300, 150, 64
  result = train_and_evaluate(TASK, c, str(tmp_path), log=_quiet)
  assert result["final"]["mse"] < 0.05  # the baseline of predicting 1 is 0.167


@pytest.mark.slow  # run with `pytest -m slow`
def test_diagnostics_are_logged_and_resume_is_exact(tmp_path):
  def run(workdir, steps):
    c = tiny.get_config()
    c.data.task, c.model.rnn.cell = "copy", "gru"
    c.train.num_steps, c.train.log_every, c.train.diagnose_every = steps, 1, 2
    c.train.checkpoint_every = 4
    return train_and_evaluate(TASK, c, str(workdir), log=_quiet)

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
    (["--config.model.rnn.cell=lstm", "--config.model.rnn.backend=associative"],
     "model.rnn.backend='associative' needs a linear-recurrence cell"),
    (["--config.data.task=sort"], "data.task must be one of"),
    (["--config.train.diagnose_every=5", "--config.model.rnn.num_layers=2"],
     "train.diagnose_every needs model.rnn.num_layers=1"),
])
def test_cli_errors_are_one_line(args, message, tmp_path):
  assert_one_line_error("experiments.synthetic.main", [
      f"--workdir={tmp_path}", "--config=experiments/synthetic/configs/tiny.py", *args], message)


@pytest.mark.slow  # run with `pytest -m slow`
def test_compare_writes_the_table_and_the_gradient_plot(tmp_path):
  workdir = tmp_path / "compare"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.synthetic.compare", "--task=adding", "--lengths=8",
       "--cells=lstm,lru", "--steps=4", "--hidden_size=8", "--batch_size=8",
       f"--workdir={workdir}"], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
  assert [(r["T"], r["cell"], r["steps"]) for r in rows] == [(8, "lstm", 4), (8, "lru", 4)]
  table = (workdir / "results.md").read_text().splitlines()
  assert table[0].startswith("| T | cell | final MSE") and len(table) == 4
  assert (workdir / "grad_norms_T8.png").stat().st_size > 10_000
  assert "[T=8 lstm] step 4/4" in result.stdout  # each run's progress is shown
  # the LRU has no curve, and the run says so (it was dropped silently before)
  assert f"T=8: lru: no gradient-norm curve ({compare.NO_CURVE})" in result.stdout
  assert (workdir / "gates_T8.png").stat().st_size > 10_000  # the LSTM's forget gate
  # A rerun (finished runs only evaluate) reports the first run's wall time.
  again = subprocess.run(
      [sys.executable, "-m", "experiments.synthetic.compare", "--task=adding", "--lengths=8",
       "--cells=lstm", "--steps=4", "--hidden_size=8", "--batch_size=8", f"--workdir={workdir}"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  again_rows = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
  assert again_rows[0]["wall_s"] == rows[0]["wall_s"]


def test_a_diverged_run_is_a_result_not_a_crash(tmp_path):
  record = compare.record_divergence(
      str(tmp_path), "non-finite grad_norm (inf) at step 2394; training stopped, ...", 46.27)
  assert record == {"message": "non-finite grad_norm (inf) at step 2394", "step": 2394,
                    "wall_s": 46.3}
  assert compare.read_divergence(str(tmp_path)) == record
  assert compare.read_divergence(str(tmp_path / "none")) is None
  compare.write_table([{"T": 500, "cell": "irnn", "mse": float("nan"), "best": float("nan"),
                        "solved_at": None, "wall_s": 46.3, "diverged": record["message"],
                        "steps": 2394}], str(tmp_path / "t.md"), "adding")
  assert "| 500 | irnn | diverged: non-finite grad_norm (inf) at step 2394 | - |" in (
      tmp_path / "t.md").read_text()
