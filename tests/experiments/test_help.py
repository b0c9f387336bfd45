"""``--help`` of every experiment lists ``--config``, ``--workdir`` and the config's keys with
their defaults (before, it listed no flag at all: they were defined outside the main
module)."""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
NAMES = sorted(p.parent.name for p in (REPO / "experiments").glob("*/main.py"))
FAST = ("lm", "timeseries")


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in NAMES])
def test_help_lists_the_flags_and_config_keys(name):
  proc = subprocess.run([sys.executable, "-m", f"experiments.{name}.main", "--help"], cwd=REPO,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode in (0, 1), proc.stderr  # absl ends --help with exit status 1
  out = proc.stdout
  for flag in ("--config:", "--workdir:", "--[no]allow_config_change:"):
    assert flag in out, out
  assert "Config keys, with their defaults (set any with --config.KEY=VALUE):" in out
  assert "learning_rate = " in out and "seed = 0" in out
  if name == "timeseries":  # two tasks, each listed
    assert "[forecast]" in out and "[classify]" in out and "data.horizon = 12" in out
