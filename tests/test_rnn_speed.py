"""``benchmarks/rnn_speed.py``'s per-batch timing: wall times, cores busy, and the minor page
faults per iteration that its ``faults`` column reports (memory mapped afresh every step)."""

import mmap

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
