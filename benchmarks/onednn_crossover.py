"""Where the oneDNN back end beats the fused path: the sweep behind ``Kernel.worthwhile``.

    python -m benchmarks.onednn_crossover [--cells gru,lstm,rnn] [--hidden 128,256,1024]
        [--batch 2,4,8,16,32] [--steps 50] [--batch1]

For each cell, hidden size and batch: ``jax.jit`` of the forward and of ``jax.grad`` of
``sum(outputs)``, with ``backend="onednn"`` and with the fused path (the autodiff scan for the
Elman RNN, which has no fused form), input size = hidden, T = ``--steps``. Each is timed as the
best of two medians of 7 calls, both back ends alternating in one process. Prints
``fused time / oneDNN time`` (above 1: oneDNN is faster) for inference and training.

``--batch1`` instead times batch-1 inference (T = 200, 512 units) of oneDNN, the fused path,
the scan and PyTorch (2 threads, ``inference_mode``) in one process, 4 interleaved rounds of
medians of 20 (needs ``torch``: ``pip install -e ".[test]"``).

``--training B,T,I,H`` (with ``--cells lstm`` or ``gru``) times one training step (``jax.grad``
of ``sum(outputs)``; PyTorch: forward, ``sum``, ``backward``) of oneDNN, the fused path and
PyTorch (as many threads as the process may use) in one process, 4 interleaved rounds of
medians of 15, with the CPU seconds each used per wall second: run it under ``taskset -c 0``
and without, to see how each uses a second core.

The thresholds in ``seqjax/recurrence/onednn.py`` (``lstm_worthwhile`` ...) come from this
sweep; ``benchmarks/README.md`` ("Small batches") has its table.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.ptb_profile import _time


def _median_ms(fn, n: int) -> float:
  return _time(fn, n) * 1e3


def sweep(cells, hiddens, batches, steps) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from seqjax.cells import gru, lstm, simple  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import unroll  # pylint: disable=g-import-not-at-top
  records = {"gru": gru.CELL, "lstm": lstm.CELL, "rnn": simple.CELL}
  print("fused (scan for rnn) time / oneDNN time; above 1: oneDNN is faster", flush=True)
  for name in cells:
    cell = records[name]
    other = "scan" if name == "rnn" else "fused"
    for hidden in hiddens:
      params = cell.init(jax.random.PRNGKey(0), hidden, hidden)
      for batch in batches:
        xs = jnp.asarray(np.random.default_rng(0).normal(size=(batch, steps, hidden))
                         .astype(np.float32))
        row = []
        for mode in ("inference", "training"):
          fns = {}
          for backend in ("onednn", other):
            if mode == "inference":
              fns[backend] = jax.jit(lambda p, x, b=backend: unroll(cell, p, x, backend=b)[0])
            else:
              fns[backend] = jax.jit(jax.grad(
                  lambda p, x, b=backend: jnp.sum(unroll(cell, p, x, backend=b)[0])))
          best = {}
          for _ in range(2):
            for backend, f in fns.items():
              ms = _median_ms(lambda f=f: jax.block_until_ready(f(params, xs)), 7)
              best[backend] = min(best.get(backend, float("inf")), ms)
          row.append(f"{mode} {best[other] / best['onednn']:.2f} "
                     f"({best['onednn']:.1f} vs {best[other]:.1f} ms)")
        print(f"{name} hidden {hidden} batch {batch}: " + " | ".join(row), flush=True)


def batch1(rounds: int = 4) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from seqjax.cells import gru, lstm  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import unroll  # pylint: disable=g-import-not-at-top
  from seqjax.train import hostmem  # pylint: disable=g-import-not-at-top
  hostmem.tune_malloc()
  torch.set_num_threads(2)
  size, steps = 512, 200
  x = np.random.default_rng(0).normal(size=(1, steps, size)).astype(np.float32)
  for name, cell, module in (("lstm", lstm.CELL, torch.nn.LSTM), ("gru", gru.CELL, torch.nn.GRU)):
    params = cell.init(jax.random.PRNGKey(0), size, size)
    xs = jax.numpy.asarray(x)
    fns = {b: jax.jit(lambda p, v, b=b: unroll(cell, p, v, backend=b)[0])
           for b in ("onednn", "fused", "scan")}
    m = module(size, size, batch_first=True).eval()
    tx = torch.from_numpy(x)

    def run_torch(m=m, tx=tx):
      with torch.inference_mode():
        m(tx)
    for _ in range(rounds):
      row = {b: _median_ms(lambda f=f: f(params, xs).block_until_ready(), 20)
             for b, f in fns.items()}
      row["torch"] = _median_ms(run_torch, 20)
      print(f"{name} batch 1, T {steps}, {size} units, ms: " +
            "  ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)


def training(cells, shape, rounds: int = 4) -> None:
  import os  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from seqjax.cells import gru, lstm  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import unroll  # pylint: disable=g-import-not-at-top
  from seqjax.train import hostmem  # pylint: disable=g-import-not-at-top
  hostmem.tune_malloc()
  threads = len(os.sched_getaffinity(0))
  torch.set_num_threads(threads)
  b, t, i, h = shape
  x = np.random.default_rng(0).normal(size=(b, t, i)).astype(np.float32)
  print(f"training step, B·T·I·H {b}·{t}·{i}·{h}; {threads} CPU(s) allowed; ms (CPU s per "
        "wall s)", flush=True)
  for name in cells:
    cell, module = {"lstm": (lstm.CELL, torch.nn.LSTM), "gru": (gru.CELL, torch.nn.GRU)}[name]
    params = cell.init(jax.random.PRNGKey(0), i, h)
    xs = jnp.asarray(x)
    fns = {bk: jax.jit(jax.grad(lambda p, v, bk=bk: jnp.sum(unroll(cell, p, v, backend=bk)[0])))
           for bk in ("onednn", "fused")}
    m = module(i, h, batch_first=True)
    tx = torch.from_numpy(x)

    def run_torch(m=m, tx=tx):
      m.zero_grad()
      m(tx)[0].sum().backward()
    runs = {bk: (lambda f=f: jax.block_until_ready(f(params, xs))) for bk, f in fns.items()}
    runs["torch"] = run_torch
    for _ in range(rounds):
      row = []
      for bk, fn in runs.items():
        fn()
        cpu, wall = time.process_time(), time.perf_counter()
        ms = _median_ms(fn, 15)
        use = (time.process_time() - cpu) / (time.perf_counter() - wall)
        row.append(f"{bk} {ms:.1f} ({use:.2f})")
      print(f"{name}: " + "  ".join(row), flush=True)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cells", default="gru,lstm,rnn")
  parser.add_argument("--hidden", default="128,256,1024")
  parser.add_argument("--batch", default="2,4,8,16,32")
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--batch1", action="store_true")
  parser.add_argument("--training", default="", help="B,T,I,H: oneDNN, fused, PyTorch")
  args = parser.parse_args()
  from seqjax.recurrence import onednn  # pylint: disable=g-import-not-at-top
  if not onednn.available():
    raise SystemExit(f"error: the oneDNN back end is not built: {onednn.unavailable_reason()}")
  if args.batch1:
    batch1()
    return
  def ints(text: str, flag: str) -> list[int]:
    try:
      values = [int(v) for v in text.split(",") if v]
    except ValueError:
      parser.error(f"{flag}={text!r}: give comma-separated positive integers")
    if not values or min(values) < 1:
      parser.error(f"{flag}={text!r}: give comma-separated positive integers")
    return values
  unknown = set(args.cells.split(",")) - {"gru", "lstm", "rnn"}
  if unknown:
    parser.error(f"--cells: unknown {sorted(unknown)}; choose from gru, lstm, rnn")
  if args.training:
    shape = ints(args.training, "--training")
    if len(shape) != 4:
      parser.error(f"--training={args.training!r}: give B,T,I,H")
    if "rnn" in args.cells.split(","):
      parser.error("--training: --cells lstm and/or gru (PyTorch's RNN is not timed)")
    training(args.cells.split(","), shape)
    return
  sweep(args.cells.split(","), ints(args.hidden, "--hidden"), ints(args.batch, "--batch"),
        args.steps)


if __name__ == "__main__":
  main()
