"""The one-shot GPU check (``benchmarks/gpu_check.sh``) runs end to end on a CPU as a dry run, so
it is ready the first time a GPU is available: every step runs, writes its files, and lists the
GPU-only parts as skipped with the reason. Without ``--dry-run`` it refuses a CPU."""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_check(out, *args):
  env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu"}
  return subprocess.run(["bash", "benchmarks/gpu_check.sh", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)


def test_the_dry_run_runs_every_step_and_names_what_it_skipped(tmp_path):
  proc = run_check(tmp_path, "--dry-run")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == [
      "env.json", "results.md", "speed.json", "speed.txt", "speed_workers.log", "tests.log",
      "tests.xml"]
  env = json.loads((tmp_path / "env.json").read_text())
  assert env["jax_backend"] == "cpu" and env["versions"]["jax"]
  rows = json.loads((tmp_path / "speed.json").read_text())
  timed = {(r["case"], r["impl"]) for r in rows if r.get("tok_s", 0) > 0}
  skipped = {(r["case"], r["impl"]): r["skipped"] for r in rows if "skipped" in r}
  assert ("lstm-train-64x35x650x650", "seqjax") in timed
  assert ("lstm-train-64x35x650x650", "seqjax-scan") in timed
  assert ("ptb-medium-train", "seqjax") in timed
  assert skipped[("lstm-train-64x35x650x650", "seqjax-cudnn")].startswith(
      "the cuDNN kernel needs a GPU backend")
  assert skipped[("lstm-train-64x35x650x650", "torch")] == "torch sees no CUDA device"
  assert not any("error" in r for r in rows)
  results = (tmp_path / "results.md").read_text()
  assert results.startswith("# GPU check (DRY RUN on CPU")
  assert "test_cudnn_kernel_matches_the_stack_on_gpu[False]: skipped: the cuDNN kernel needs a " \
         "GPU backend" in results
  assert "| cuDNN back end = scan within float32 tolerance (values and gradients) | not run" \
      in results


def test_without_dry_run_a_cpu_is_refused(tmp_path):
  proc = run_check(tmp_path)
  assert proc.returncode == 2
  assert "JAX sees no GPU (backend 'cpu'); refusing to report CPU numbers as GPU ones" \
      in proc.stderr
  assert not (tmp_path / "results.md").exists()
