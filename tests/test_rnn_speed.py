"""``benchmarks/rnn_speed.py``'s per-batch timing: wall times, cores busy, and the minor page
faults per iteration that its ``faults`` column reports (memory mapped afresh every step); how
many calls a timed batch holds; its flags' errors; and ``--hlo``'s kernel counts."""

import mmap
import re
import subprocess
import sys

from benchmarks import rnn_speed

PAGES = 1024  # 4 MiB of 4 KiB pages


def _fresh_pages():
  m = mmap.mmap(-1, PAGES * mmap.PAGESIZE)  # new anonymous memory: every page faults once
  for page in range(PAGES):
    m[page * mmap.PAGESIZE] = 1
  m.close()


def test_time_batch_counts_the_pages_a_step_touches_afresh():
  fresh = rnn_speed.time_batch(_fresh_pages, 3)
  assert len(fresh["times"]) == 3 and all(t > 0 for t in fresh["times"])
  assert PAGES <= fresh["faults"] < PAGES + 64
  kept = bytearray(PAGES * mmap.PAGESIZE)  # touched once, reused by every call

  def reuse():
    for page in range(0, len(kept), mmap.PAGESIZE):
      kept[page] = 1
  reuse()
  assert rnn_speed.time_batch(reuse, 3)["faults"] < 16
  assert 0 < fresh["cpu"] <= 2.5


def test_a_batch_lasts_its_seconds_and_the_ptb_cases_get_longer_ones():
  # A 30 ms LSTM step at 0.3 s batches: 11 calls; a 130 ms PTB step at 2 s: 16 (at 0.3 s it
  # was 3, the one-to-three-step rounds PyTorch's slow first steps dominated).
  assert rnn_speed.batch_iterations("train", 0.030, 0.3, 2.0) == 11
  assert rnn_speed.batch_iterations("ptb", 0.130, 0.3, 2.0) == 16
  assert rnn_speed.batch_iterations("ptb", 0.130, 0.3, 0.3) == 3
  assert rnn_speed.batch_iterations("infer", 5.0, 0.3, 2.0) == 1
  assert rnn_speed.batch_iterations("infer", 1e-5, 0.3, 2.0) == 50


def test_bad_batch_seconds_are_one_line_exit_2():
  for flag in ("--batch_seconds=0", "--ptb_batch_seconds=-1"):
    out = subprocess.run([sys.executable, "-m", "benchmarks.rnn_speed", flag],
                         capture_output=True, text=True, timeout=120)
    name, value = flag.split("=")
    assert out.returncode == 2 and out.stderr == f"error: {name}={float(value)}: must be > 0\n"


def test_hlo_report_counts_the_kernels_of_each_scan_loop(capsys):
  rnn_speed.hlo_report(shape=(2, 3, 4, 5))  # was broken: it passed the cell's module
  lines = capsys.readouterr().out.splitlines()
  assert [line.split(":")[0].split()[:3] for line in lines] == [
      ["lstm", "train", "seqjax-fused"], ["lstm", "train", "seqjax-scan"],
      ["gru", "train", "seqjax-fused"], ["gru", "train", "seqjax-scan"]]
  for line in lines:  # a forward and a backward loop, each with its recurrent product
    loops = re.findall(r"loop \d: (\d+) kernels/iter \((\d+) GEMM", line)
    assert len(loops) == 2 and all(int(k) > int(g) >= 1 for k, g in loops), line
