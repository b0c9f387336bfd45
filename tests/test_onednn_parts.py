"""``benchmarks/onednn_parts.py`` end to end at a tiny shape (its workers are fresh processes),
and its one-line errors for bad flags."""

import importlib.util
import subprocess
import sys

import pytest

from benchmarks import onednn_parts
from seqjax.recurrence import onednn


def test_bad_flags_are_one_line_exit_2(capsys):
  assert onednn_parts.main(["--shape", "3x4"]) == 2
  assert capsys.readouterr().err.strip() == ("error: --shape='3x4': expected BxTxIxH, four "
                                             "positive integers")
  assert onednn_parts.main(["--only", "parts,speed"]) == 2
  assert "--only: unknown ['speed']" in capsys.readouterr().err


@pytest.mark.slow  # four fresh processes, each importing JAX
@pytest.mark.skipif(not onednn.available(), reason="the oneDNN extension is not built")
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_both_tables_at_a_tiny_shape():
  out = subprocess.run([sys.executable, "-m", "benchmarks.onednn_parts", "--shape", "2x3x4x5",
                        "--processes", "1", "--rounds", "1", "--calls", "1"],
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr
  lines = out.stdout.splitlines()
  assert lines[0].startswith("LSTM 2x3x4x5 (B x T x I x H), oneDNN 3.")
  rows = {line.split()[0]: line for line in lines if line.split()[:1] in (
      ["fwd_train"], ["fwd_infer"], ["bwd"], ["train"])}
  assert set(rows) == {"fwd_train", "fwd_infer", "bwd", "train"}
  for line in rows.values():  # two "median (min-max)" cells and a positive ratio
    assert float(line.split()[-1]) > 0 and line.count("(") == 2
  assert any(line.startswith("seqjax's settings") and "faults" in line for line in lines)
  assert any(line.startswith("SEQJAX_TUNE_MALLOC=0") and "faults" in line for line in lines)
