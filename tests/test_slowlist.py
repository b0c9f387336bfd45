"""The list of slow tests: written from a ``--durations`` log, applied by ``tests/conftest.py``
before ``-m`` selects, and a line naming no test refused with its line number."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

LOG = """\
============================= slowest durations ==============================
3.10s call     tests/test_metrics.py::test_a
0.20s setup    tests/test_metrics.py::test_a
1.00s call     tests/test_metrics.py::test_b
2.00s call     tests/test_metrics.py::test_c
0.60s setup    tests/test_metrics.py::test_c
"""


def test_the_list_holds_what_took_over_the_threshold_in_any_log(tmp_path):
  (tmp_path / "a.log").write_text(LOG)
  (tmp_path / "b.log").write_text("slowest\n2.40s call     tests/test_metrics.py::test_b\n")
  out = tmp_path / "slow.txt"
  subprocess.run([sys.executable, "-m", "tests.slowlist", str(tmp_path / "a.log"),
                  str(tmp_path / "b.log"), "--threshold", "2.5", "--out", str(out)],
                 cwd=REPO, check=True, capture_output=True)
  lines = [l for l in out.read_text().splitlines() if not l.startswith("#")]
  # test_a: 3.3 s; test_c: 2.6 s (setup + call); test_b: 1.0 then 2.4 s, under in both.
  assert [l.split() for l in lines] == [["3.3", "tests/test_metrics.py::test_a"],
                                       ["2.6", "tests/test_metrics.py::test_c"]]
  (tmp_path / "empty.log").write_text("no report here\n")
  for args, message in (([str(tmp_path / "empty.log")], "empty.log has no --durations report"),
                        ([str(tmp_path / "missing.log")], "missing.log is not a file"),
                        ([str(tmp_path / "a.log"), "--threshold", "0"], "--threshold must be > 0")):
    proc = subprocess.run([sys.executable, "-m", "tests.slowlist", *args, "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
  assert [l.split() for l in out.read_text().splitlines() if not l.startswith("#")][0] == [
      "3.3", "tests/test_metrics.py::test_a"]  # a refused run leaves the list as it was


def _collect(listing, tmp_path, *args):
  path = tmp_path / "slow.txt"
  path.write_text(listing)
  return subprocess.run(
      [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
       "tests/test_masks.py", *args], cwd=REPO, capture_output=True, text=True,
      env={**os.environ, "SEQJAX_SLOW_LIST": str(path)}, timeout=300)


@pytest.mark.slow  # five pytest processes, ~15 s
def test_a_listed_test_is_slow_and_a_stale_or_malformed_line_is_refused(tmp_path):
  names = _collect("", tmp_path, "-m", "slow or not slow").stdout.split()
  tests = sorted(n for n in names if n.startswith("tests/test_masks.py::"))
  assert len(tests) >= 2
  listing = f"# a comment\n   4.0  {tests[0]}\n"
  default = _collect(listing, tmp_path)
  assert default.returncode == 0, default.stdout + default.stderr
  assert tests[0] not in default.stdout.split() and tests[1] in default.stdout.split()
  slow = _collect(listing, tmp_path, "-m", "slow")
  assert slow.stdout.split()[0] == tests[0]
  assert tests[1] not in slow.stdout.split()

  stale = _collect(listing + "  3.0  tests/test_masks.py::test_that_was_renamed\n", tmp_path)
  assert stale.returncode != 0
  assert ("slow.txt line 3: no test 'tests/test_masks.py::test_that_was_renamed'"
          in stale.stdout + stale.stderr)
  # Selecting single tests collects part of the module: nothing there is judged stale.
  part = _collect(listing + "  3.0  tests/test_masks.py::test_that_was_renamed\n", tmp_path,
                  "-k", tests[1].split("::")[1].split("[")[0])
  assert part.returncode == 0, part.stdout + part.stderr
  # A listed file that no longer exists is stale even when nothing of it is collected.
  gone = _collect(listing + "  3.0  tests/test_renamed_file.py::test_x\n", tmp_path)
  assert gone.returncode != 0
  assert "slow.txt line 3: no file 'tests/test_renamed_file.py'" in gone.stdout + gone.stderr
  bad = _collect("tests/test_masks.py::x\n", tmp_path)
  assert bad.returncode != 0 and "slow.txt line 1: not 'SECONDS  TEST'" in bad.stdout + bad.stderr
