"""``benchmarks/onednn_parts.py`` end to end at a tiny shape (its workers are fresh processes),
and its one-line errors for bad flags."""

import importlib.util
import re
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
  assert onednn_parts.main(["--processes", "0"]) == 2
  assert capsys.readouterr().err.strip() == "error: --processes=0: must be >= 1"


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
  medians = {}
  for part, line in rows.items():  # "median (min-max)" for seqjax, then PyTorch, then the ratio
    cells = re.findall(r"([\d.]+) \(([\d.]+)-([\d.]+)\)", line)
    assert len(cells) == 2, line
    for median, low, high in cells:
      assert 0 < float(low) <= float(median) <= float(high), line
    medians[part] = [float(c[0]) for c in cells]
    assert float(line.split()[-1]) == pytest.approx(medians[part][1] / medians[part][0],
                                                    rel=0.1, abs=0.011), line
  # One process each: the training row is the sum of its two parts.
  for k in range(2):
    assert medians["train"][k] == pytest.approx(
        medians["fwd_train"][k] + medians["bwd"][k], abs=0.011)
  assert any(line.startswith("seqjax's settings") and "faults" in line for line in lines)
  assert any(line.startswith("SEQJAX_TUNE_MALLOC=0") and "faults" in line for line in lines)
