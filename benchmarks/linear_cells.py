"""Throughput of the linear-recurrence cells (parallel associative scan) against the LSTM and
GRU (sequential scan) at long T: a training step (forward, ``loss = sum(outputs)``, gradients
of every parameter) and the forward pass alone.

    python -m benchmarks.linear_cells                      # B=16, T=1000, I=H=256
    python -m benchmarks.linear_cells --batch=8 --length=4000 --hidden=512 --repeats=5

Prints one line per (cell, scan): median milliseconds per call and tokens per second, and the
ratio to the LSTM. Cases run interleaved, round after round, so drifts in machine load touch
every case alike; the median over rounds is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from seqjax import cells
from seqjax.recurrence import unroll

CASES = [("lstm", False), ("gru", False), ("mingru", False), ("mingru", True),
         ("minlstm", False), ("minlstm", True), ("lru", False), ("lru", True)]


def make_case(name: str, parallel: bool, batch: int, length: int, size: int, train: bool):
  cell = cells.get(name)
  params = cell.init(jax.random.PRNGKey(0), size, size)
  xs = jax.random.normal(jax.random.PRNGKey(1), (batch, length, size))

  def forward(p, x):
    return jnp.sum(unroll(cell, p, x, backend="associative" if parallel else "scan")[0])

  fn = jax.jit(jax.grad(forward) if train else forward)
  jax.block_until_ready(fn(params, xs))  # compile
  return lambda: jax.block_until_ready(fn(params, xs))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--length", type=int, default=1000)
  parser.add_argument("--hidden", type=int, default=256)
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--forward_only", action="store_true")
  args = parser.parse_args()
  train = not args.forward_only
  runners = {(n, p): make_case(n, p, args.batch, args.length, args.hidden, train)
             for n, p in CASES}
  times = {k: [] for k in runners}
  for _ in range(args.repeats):
    for key, run in runners.items():
      start = time.perf_counter()
      run()
      times[key].append(time.perf_counter() - start)
  tokens = args.batch * args.length
  base = statistics.median(times[("lstm", False)])
  print(f"{'train step' if train else 'forward'}: B={args.batch} T={args.length} "
        f"I=H={args.hidden}, {jax.devices()[0].platform}, median of {args.repeats}")
  for (name, parallel), ts in times.items():
    med = statistics.median(ts)
    scan = "parallel" if parallel else "sequential"
    print(f"{name:8s} {scan:10s} {med * 1e3:9.1f} ms  {tokens / med:12,.0f} tok/s  "
          f"{base / med:5.2f}x LSTM")


if __name__ == "__main__":
  main()
