"""Writes ``tests/slow.txt``: the tests the default run leaves to ``pytest -m slow``.

    python -m pytest -m "slow or not slow" --durations=0 > full.log
    python -m tests.slowlist full.log [--threshold 2.5]
    python -m pytest --durations=0 > default.log        # then again, the list grown
    python -m tests.slowlist full.log default.log

Every test whose setup + call + teardown took at least ``--threshold`` seconds in one of the
logs is listed (with its longest time), except those in ``KEEP``: cheap representatives of the suite's
promises (PyTorch parity with lengths, a checkpoint corrupted on disk, exact resume, the
oneDNN back end's padding invariance) that stay in the default run whatever they cost.
``tests/conftest.py`` marks the listed tests ``slow`` and refuses a line that names no test.
Tests marked ``@pytest.mark.slow`` in their own files stay slow whatever the log says.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import re
import subprocess
import sys

KEEP = {
    "tests/interop/test_torch.py::test_outputs_final_states_and_gradients[lstm-2-True-3-lengths]",
    "tests/train/test_faults.py::test_a_corrupted_newest_checkpoint_is_skipped_and_the_run_"
    "resumes_exactly[truncate]",
    "tests/train/test_faults.py::test_restore_without_a_step_names_the_newer_checkpoint_it_skips",
    "tests/train/test_trainer.py::test_resume_is_exact_and_uses_the_saved_metadata",
    "tests/train/test_trainer.py::test_a_toy_task_trains_and_the_trainer_writes_its_records",
    "tests/recurrence/test_onednn.py::test_a_sequence_does_not_depend_on_its_padding_or_batch_"
    "mates[lstm]",
}
LIST = pathlib.Path(__file__).resolve().parent / "slow.txt"


def durations(log: str) -> dict[str, float]:
  """Node id -> seconds (setup + call + teardown) from pytest's ``--durations=0`` report."""
  total: dict[str, float] = collections.defaultdict(float)
  for line in pathlib.Path(log).read_text().splitlines():
    m = re.match(r"\s*([\d.]+)s (setup|call|teardown)\s+(\S.*)$", line)
    if m:
      total[m.group(3).strip()] += float(m.group(1))
  return total


def read(path: pathlib.Path) -> dict[str, int]:
  """The list at ``path``: node id -> its line number. ``ValueError`` names a line that is not
  ``SECONDS  TEST``."""
  listed = {}
  for number, line in enumerate(path.read_text().splitlines(), 1):
    if line.strip() and not line.startswith("#"):
      match = re.fullmatch(r"\s*[\d.]+\s+(\S.*?)\s*", line)
      if match is None:
        raise ValueError(f"{path.name} line {number}: not 'SECONDS  TEST': {line!r}")
      listed[match.group(1)] = number
  return listed


def _fail(message: str):
  print(f"error: {message}", file=sys.stderr)
  raise SystemExit(2)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("logs", nargs="+", help="pytest output with a --durations=0 report")
  parser.add_argument("--threshold", type=float, default=2.5)
  parser.add_argument("--note", default="", help="where and when the log was made")
  parser.add_argument("--out", default=str(LIST), help="the list to write")
  args = parser.parse_args()
  runs = []
  for log in args.logs:
    if not pathlib.Path(log).is_file():
      _fail(f"{log} is not a file")
    runs.append(durations(log))
    if not runs[-1]:
      _fail(f"{log} has no --durations report")
  if args.threshold <= 0:
    _fail(f"--threshold must be > 0; got {args.threshold}")
  longest: dict[str, float] = {}
  for run in runs:
    for n, s in run.items():
      longest[n] = max(s, longest.get(n, 0.0))
  slow = sorted(((s, n) for n, s in longest.items() if s >= args.threshold and n not in KEEP),
                key=lambda sn: sn[1])
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip()
  lines = [
      "# Tests the default run leaves to `python -m pytest -m slow` (tests/conftest.py marks them).",
      f"# Each took >= {args.threshold} s in one of {len(runs)} runs (`--durations=0`)"
      f"{': ' + args.note if args.note else ''};",
      f"# written by `python -m tests.slowlist` at commit {commit}. Seconds, then the test.",
      f"# {len(slow)} tests, {sum(s for s, _ in slow) / 60:.1f} min by these numbers.",
  ] + [f"{s:7.1f}  {n}" for s, n in slow]
  out = pathlib.Path(args.out)
  out.write_text("\n".join(lines) + "\n")
  print(f"{out}: {len(slow)} tests ({sum(s for s, _ in slow) / 60:.1f} min)")


if __name__ == "__main__":
  main()
