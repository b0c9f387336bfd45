"""The oneDNN LSTM's training step, part by part, against PyTorch's; and the same step in a
training loop of one's own, with and without seqjax's malloc settings.

    python -m benchmarks.onednn_parts [--shape 64x35x200x200] [--processes 5] [--rounds 9]
        [--calls 6] [--only parts,loop]

``parts``: oneDNN's three primitive calls as seqjax makes them (``seqjax.recurrence.onednn``:
the forward for training, which also writes the workspace the backward reads; the forward for
inference; the backward), each jitted on time-major inputs in oneDNN's weight layout, so only
the primitive and its weight reorders are timed. PyTorch's the same way: ``nn.LSTM`` forward
with autograd recording (``mkldnn_rnn_layer``), ``no_grad`` forward, and ``backward`` of the
recorded output. Each framework runs in fresh processes, alternating (``--processes`` each):
two OpenMP runtimes in one process spin against each other. A process times ``--rounds``
rounds of ``--calls`` calls of each part and prints the median; the table gives the median
over processes and their range.

``loop``: ``jax.grad`` of ``sum(unroll(..., backend="onednn"))`` in a plain loop (not seqjax's
trainer), in fresh processes alternating between seqjax's malloc settings as importing seqjax
sets them and ``SEQJAX_TUNE_MALLOC=0`` (glibc's defaults), with the minor page faults a step.

Needs the oneDNN extension (``pip install -e ".[cpu-kernels]"``) and, for ``parts``, PyTorch
(``pip install -e ".[test]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = r"""
import json, sys
import numpy as np
from benchmarks.rnn_speed import time_batch
what, B, T, I, H, rounds, calls = sys.argv[1], *map(int, sys.argv[2:8])

def timed(fns):
  # median over the rounds of each part's mean ms a call (calls a round, the parts
  # interleaved), and the minor page faults a call over every part
  for f in fns.values():
    f(); f()
  ms, faults = {k: [] for k in fns}, []
  for _ in range(rounds):
    for k, f in fns.items():
      batch = time_batch(f, calls)
      ms[k].append(1e3 * float(np.mean(batch["times"])))
      faults.append(batch["faults"])
  return {k: float(np.median(v)) for k, v in ms.items()}, float(np.mean(faults))

if what == "torch":
  import torch
  lstm = torch.nn.LSTM(I, H)
  x = torch.randn(T, B, I)
  held = {}
  def fwd_train():
    held["y"] = lstm(x)[0]
  def bwd():
    lstm.zero_grad()
    held["y"].backward(torch.ones_like(held["y"]), retain_graph=True)
  def fwd_infer():
    with torch.no_grad():
      lstm(x)
  fwd_train()
  ms, faults = timed({"fwd_train": fwd_train, "fwd_infer": fwd_infer, "bwd": bwd})
else:
  import jax, jax.numpy as jnp
  from seqjax.cells import lstm
  from seqjax.recurrence import onednn, unroll
  p = lstm.CELL.init(jax.random.PRNGKey(0), I, H)
  if what == "jax":
    xt = jnp.asarray(np.random.default_rng(0).standard_normal((T, B, I), dtype=np.float32))
    wl, wi, b = onednn.to_onednn(p, onednn.LSTM)
    h0 = c0 = jnp.zeros((B, H))
    def forward(training):
      return jax.jit(lambda wl, wi, b, x: onednn._forward(onednn.LSTM, False, training, x, h0, c0,
                                                           wl, wi, b))
    train, infer = forward(True), forward(False)
    y, hT, cT, ws = train(wl, wi, b, xt)
    zeros = jnp.zeros((B, H))
    bwd = jax.jit(lambda *a: onednn._rnn_bwd(onednn.LSTM, False, a, (jnp.ones_like(y), zeros,
                                                                       zeros)))
    saved = (xt, h0, c0, wl, wi, b, y, hT, cT, ws)
    ms, faults = timed({
        "fwd_train": lambda: jax.block_until_ready(train(wl, wi, b, xt)),
        "fwd_infer": lambda: jax.block_until_ready(infer(wl, wi, b, xt)),
        "bwd": lambda: jax.block_until_ready(bwd(*saved))})
  else:  # loop
    x = jnp.asarray(np.random.default_rng(0).standard_normal((B, T, I), dtype=np.float32))
    step = jax.jit(jax.grad(lambda p, x: jnp.sum(unroll(lstm.CELL, p, x, backend="onednn")[0])))
    ms, faults = timed({"step": lambda: jax.block_until_ready(step(p, x))})
print(json.dumps({"ms": ms, "faults": faults}))
"""


def _worker(what: str, shape, rounds: int, calls: int, env: dict) -> dict:
  out = subprocess.run([sys.executable, "-c", WORKER, what, *map(str, shape), str(rounds),
                        str(calls)], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, **env}, timeout=900)
  if out.returncode != 0:
    raise RuntimeError(f"{what} worker failed:\n{out.stderr[-2000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def _cell(values: list[float]) -> str:
  return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def parts(shape, processes: int, rounds: int, calls: int) -> None:
  runs = {"jax": [], "torch": []}
  for _ in range(processes):
    for what in runs:
      runs[what].append(_worker(what, shape, rounds, calls, {}))
  print(f"\nprimitives, ms per call: median over {processes} processes (range)")
  print(f"{'part':10s} {'seqjax oneDNN 3.2':>24s} {'PyTorch':>24s} {'PyTorch / seqjax':>17s}")
  for part in ("fwd_train", "fwd_infer", "bwd"):
    mine = [r["ms"][part] for r in runs["jax"]]
    theirs = [r["ms"][part] for r in runs["torch"]]
    print(f"{part:10s} {_cell(mine):>24s} {_cell(theirs):>24s} "
          f"{statistics.median(theirs) / statistics.median(mine):17.2f}")
  total = lambda r: r["ms"]["fwd_train"] + r["ms"]["bwd"]
  mine = [total(r) for r in runs["jax"]]
  theirs = [total(r) for r in runs["torch"]]
  print(f"{'train':10s} {_cell(mine):>24s} {_cell(theirs):>24s} "
        f"{statistics.median(theirs) / statistics.median(mine):17.2f}")


def loop(shape, processes: int, rounds: int, calls: int) -> None:
  runs = {"seqjax's settings": ({}, []), "SEQJAX_TUNE_MALLOC=0": ({"SEQJAX_TUNE_MALLOC": "0"}, [])}
  for _ in range(processes):
    for env, rows in runs.values():
      rows.append(_worker("loop", shape, rounds, calls, env))
  print(f"\na training loop of one's own: ms a step and page faults a step, median over "
        f"{processes} processes (range)")
  for name, (_, rows) in runs.items():
    print(f"{name:22s} {_cell([r['ms']['step'] for r in rows]):>22s} ms "
          f"{_cell([r['faults'] for r in rows]):>26s} faults")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--shape", default="64x35x200x200", help="B x T x I x H")
  parser.add_argument("--processes", type=int, default=5)
  parser.add_argument("--rounds", type=int, default=9)
  parser.add_argument("--calls", type=int, default=6)
  parser.add_argument("--only", default="parts,loop")
  args = parser.parse_args(argv)
  try:
    shape = tuple(int(v) for v in args.shape.lower().split("x"))
    if len(shape) != 4 or min(shape) <= 0:
      raise ValueError
  except ValueError:
    print(f"error: --shape={args.shape!r}: expected BxTxIxH, four positive integers",
          file=sys.stderr)
    return 2
  for name in ("processes", "rounds", "calls"):
    if getattr(args, name) < 1:
      print(f"error: --{name}={getattr(args, name)}: must be >= 1", file=sys.stderr)
      return 2
  unknown = set(filter(None, args.only.split(","))) - {"parts", "loop"}
  if unknown:
    print(f"error: --only: unknown {sorted(unknown)}; choose from parts, loop", file=sys.stderr)
    return 2
  from seqjax.recurrence import onednn  # pylint: disable=g-import-not-at-top
  if not onednn.available():
    print(f"error: the oneDNN back end is not built: {onednn.unavailable_reason()}",
          file=sys.stderr)
    return 2
  print(f"LSTM {'x'.join(map(str, shape))} (B x T x I x H), oneDNN {onednn.version()}")
  if "parts" in args.only:
    parts(shape, args.processes, args.rounds, args.calls)
  if "loop" in args.only:
    loop(shape, args.processes, args.rounds, args.calls)
  return 0


if __name__ == "__main__":
  sys.exit(main())
