"""Where the time of one ``rnn_speed`` call goes: XLA's operations in seqjax, ATen's in PyTorch.

    python -m benchmarks.step_profile --case lstm-train-64x35x200x200
    python -m benchmarks.step_profile --case ptb-small-train --impl seqjax-onednn,torch --timeline
    python -m benchmarks.step_profile --case lstm-infer-1x200x512x512 --impl seqjax-fused

Each implementation is built by ``benchmarks.rnn_speed``'s own builders (so what is profiled is
what that benchmark times), in a fresh process of its own, one after the other. It is called
``--warmup`` times, then ``--calls`` times timed (the ``ms a call`` line: median and min), then
``--calls`` times under the framework's profiler:

- **JAX**: ``jax.profiler`` (a Perfetto trace). XLA:CPU runs a compiled program as a sequence
  of thunks, one per top-level operation (a fusion, a product, a custom call, a loop), each
  named after its HLO instruction; every thunk of a call is summed by name, and its kind is read
  from the compiled HLO (``matmul (YNNPACK)``, ``matmul (Eigen)``, ``custom call <target>``,
  ``reduction``, ``elementwise``, ``loop``, ``call`` for a small computation XLA compiled as
  one thunk, ...). ``level`` is ``step`` for the program's own
  operations and ``loop`` for those inside a ``while`` (a scan's body; their time is also inside
  the loop's). The share is of the step-level sum. Independent thunks may run at the same time
  on XLA's threads, so that sum can exceed the call's wall time; where it is well under it, the
  rest is dispatch and waiting.
- **PyTorch**: ``torch.profiler`` (CPU), ATen operators by self time (the time in an operator
  less that of the operators it calls); ``total`` includes them.

``--timeline`` also prints one call's step-level operations in the order they ran (start
offset within the call, duration, thread), JAX only.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from benchmarks import hlo, rnn_speed


def hlo_ops(text: str) -> dict:
  """Instruction name -> ``{"kind", "level", "what"}`` for the instructions that XLA:CPU runs
  as thunks: those of the entry computation (``step``) and of ``while`` bodies and conditions
  (``loop``). ``what`` is the JAX operation it came from (the end of its ``op_name``)."""
  comps, entry = hlo.computations(text)

  def kind(opcode, rest):
    if opcode == "custom-call":
      target = re.search(r'custom_call_target="([^"]+)"', rest)
      return f"custom call {target.group(1) if target else '?'}"
    if opcode == "fusion":
      called = re.search(r"calls=%([\w.\-]+)", rest)
      inner = {op for _, op, _ in comps.get(called.group(1) if called else "", [])}
      lib = " (YNNPACK)" if "__ynn_fusion" in rest else " (XNNPACK)" if "__xnn" in rest else ""
      if inner & {"dot", "convolution"}:
        return "matmul" + lib
      for op in ("reduce", "scatter", "gather", "dynamic-update-slice", "transpose", "copy"):
        if op in inner:
          return {"reduce": "reduction"}.get(op, op) + lib
      return "elementwise" + lib
    if opcode == "dot":
      return "matmul (Eigen)"
    if opcode == "while":
      return "loop"
    if opcode == "call":  # XLA:CPU compiles a small called computation as one thunk
      called = re.search(r"to_apply=%([\w.\-]+)", rest)
      inner = {op for _, op, _ in comps.get(called.group(1) if called else "", [])}
      return "call (a loop inside)" if "while" in inner else "call"
    return opcode

  out = {}
  pending = [(entry, "step")]
  seen = set()
  while pending:
    comp, level = pending.pop()
    if comp in seen:
      continue
    seen.add(comp)
    for name, opcode, rest in comps.get(comp, []):
      if opcode in ("parameter", "constant", "get-tuple-element", "tuple", "bitcast"):
        continue
      what = re.search(r'op_name="([^"]+)"', rest)
      out[name] = {"kind": kind(opcode, rest), "level": level,
                   "what": "/".join(what.group(1).split("/")[-2:]) if what else ""}
      if opcode == "while":
        for key in ("body", "condition"):
          called = re.search(key + r"=%([\w.\-]+)", rest)
          if called:
            pending.append((called.group(1), "loop"))
  return out


def _timed(fn, calls):
  """Median and min ms a call, by ``rnn_speed``'s own timing loop."""
  times = rnn_speed.time_batch(fn, calls)["times"]
  return statistics.median(times) * 1e3, min(times) * 1e3


def trace_calls(trace_file: str, ops: dict) -> list:
  """One ``(wall ms, rows)`` per profiled call (``call<i>`` annotations): ``rows`` are
  ``(name, start ms, ms, thread)`` for the trace's events that are thunks of ``ops``, by start."""
  with gzip.open(trace_file) as f:
    data = json.load(f)
  events = data["traceEvents"] if isinstance(data, dict) else data
  threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
  spans = [e for e in events if e.get("ph") == "X"]
  calls = sorted((e for e in spans if re.fullmatch(r"call\d+", e["name"])),
                 key=lambda e: e["ts"])
  out = []
  for c in calls:
    t0, t1 = c["ts"], c["ts"] + c["dur"]
    rows = [(e["name"], (e["ts"] - t0) / 1e3, e["dur"] / 1e3,
             threads.get((e["pid"], e["tid"]), str(e["tid"])))
            for e in spans if e["name"] in ops and t0 <= e["ts"] <= t1]
    out.append((c["dur"] / 1e3, sorted(rows, key=lambda r: r[1])))
  return out


def summarize(per_call: list, ops: dict, calls: int) -> tuple[dict, float]:
  """``({operation: (median ms a call, median runs a call)}, step-level total ms)`` over the
  profiled calls (an operation absent from a call counts 0 ms there). Refuses a trace that
  does not hold the ``calls`` calls, or none of the program's operations: the profiler's names
  no longer matching the compiled program's would otherwise print an empty table."""
  if len(per_call) != calls:
    raise ValueError(f"the trace holds {len(per_call)} profiled calls, not {calls}")
  sums, counts = collections.defaultdict(list), collections.defaultdict(list)
  for _, rows in per_call:
    by, n = collections.defaultdict(float), collections.Counter()
    for name, _, ms, _ in rows:
      by[name] += ms
      n[name] += 1
    for name in n:
      sums[name].append(by[name])
      counts[name].append(n[name])
  table = {name: (statistics.median(v + [0.0] * (calls - len(v))),
                  statistics.median(counts[name])) for name, v in sums.items()}
  step_total = sum(ms for name, (ms, _) in table.items() if ops[name]["level"] == "step")
  if step_total <= 0:
    raise ValueError("no operation of the compiled program took time in the trace: its "
                     f"thunk names do not match the program's ({len(ops)} operations)")
  return table, step_total


def jax_report(case, impl, calls, warmup, top, timeline, tiny):
  import jax  # pylint: disable=g-import-not-at-top
  from seqjax.train import hostmem  # pylint: disable=g-import-not-at-top
  hostmem.tune_malloc()  # as rnn_speed's JAX worker and seqjax's trainer do
  fn = rnn_speed.jax_builders("cpu", tiny)[f"{case}:{impl}"]()
  ops = hlo_ops(fn.hlo())
  for _ in range(warmup):
    fn()
  med, low = _timed(fn, calls)
  with tempfile.TemporaryDirectory() as d:
    jax.profiler.start_trace(d, create_perfetto_trace=True)
    for i in range(calls):
      with jax.profiler.TraceAnnotation(f"call{i}"):
        fn()
    jax.profiler.stop_trace()
    files = glob.glob(os.path.join(d, "**", "perfetto_trace.json.gz"), recursive=True)
    if not files:
      raise RuntimeError(f"jax.profiler wrote no perfetto_trace.json.gz under {d}")
    per_call = trace_calls(files[0], ops)
  backend = getattr(fn, "backend", "")
  print(f"{case} {impl}{f' (back end: {backend})' if backend else ''}: {med:.2f} ms a call "
        f"(min {low:.2f}), median of {calls}; profiled {len(per_call)} calls")
  table, step_total = summarize(per_call, ops, calls)
  profiled = statistics.median(wall for wall, _ in per_call)
  print(f"  step-level operations sum to {step_total:.2f} ms a call; the profiled calls took "
        f"{profiled:.2f} ms (median)")
  print(f"  {'operation':28s} {'kind':28s} {'level':5s} {'runs':>5s} {'ms':>8s} {'share':>6s}"
        "  from")
  rows = sorted(table.items(), key=lambda kv: -kv[1][0])
  for name, (ms, n) in rows[:top]:
    op = ops[name]
    share = f"{100 * ms / step_total:5.1f}%" if op["level"] == "step" else ""
    print(f"  {name:28s} {op['kind']:28s} {op['level']:5s} {n:5.0f} {ms:8.2f} {share:>6s}"
          f"  {op['what']}")
  rest = [ms for name, (ms, _) in rows[top:] if ops[name]["level"] == "step"]
  if rest:
    print(f"  {'(the other ' + str(len(rest)) + ' step-level)':28s} {'':28s} {'step':5s} "
          f"{'':5s} {sum(rest):8.2f} {100 * sum(rest) / step_total:5.1f}%")
  if timeline:
    wall, rows = per_call[len(per_call) // 2]
    print(f"  timeline of call {len(per_call) // 2}, {wall:.2f} ms (step level; start ms, ms, "
          "thread):")
    for name, start, ms, thread in rows:
      if ops[name]["level"] == "step":
        print(f"    {start:8.2f} {ms:8.2f}  {thread[-24:]:24s} {name} ({ops[name]['kind']})")


def torch_report(case, calls, warmup, top, tiny):
  import torch  # pylint: disable=g-import-not-at-top
  from torch.profiler import ProfilerActivity, profile  # pylint: disable=g-import-not-at-top
  fn = rnn_speed.torch_builders("cpu", tiny)[f"{case}:torch"]()
  for _ in range(warmup):
    fn()
  med, low = _timed(fn, calls)
  with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(calls):
      fn()
  print(f"{case} torch ({torch.__version__}, {torch.get_num_threads()} threads): {med:.2f} ms "
        f"a call (min {low:.2f}), median of {calls}; profiled {calls} calls")
  avg = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
  total = sum(e.self_cpu_time_total for e in avg) / calls / 1e3
  print(f"  operators' self times sum to {total:.2f} ms a call")
  print(f"  {'operator':44s} {'runs':>5s} {'self ms':>8s} {'share':>6s} {'total ms':>9s}")
  for e in avg[:top]:
    self_ms = e.self_cpu_time_total / calls / 1e3
    print(f"  {e.key[:44]:44s} {e.count / calls:5.0f} {self_ms:8.2f} "
          f"{100 * self_ms / total:5.1f}% {e.cpu_time_total / calls / 1e3:9.2f}")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--case", default="lstm-train-64x35x200x200",
                      help=f"one of rnn_speed's CPU cases: {', '.join(rnn_speed.CASES)}")
  parser.add_argument("--impl", default="seqjax,torch",
                      help="comma-separated: seqjax, seqjax-onednn, seqjax-fused, seqjax-scan, "
                           "seqjax-bf16, flax (not for ptb-small-train), torch")
  parser.add_argument("--calls", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--top", type=int, default=12, help="rows per table")
  parser.add_argument("--timeline", action="store_true")
  parser.add_argument("--tiny", action="store_true", help="rnn_speed's tiny shapes (a dry run)")
  parser.add_argument("--worker", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.case not in rnn_speed.CASES:
    print(f"error: --case={args.case!r}: not one of {', '.join(rnn_speed.CASES)}",
          file=sys.stderr)
    return 2
  impls = [i for i in args.impl.split(",") if i]
  known = {"seqjax", "seqjax-onednn", "seqjax-fused", "seqjax-scan", "torch"}
  if rnn_speed.CASES[args.case][1] != "ptb":
    known |= {"seqjax-bf16", "flax"}
  bad = [i for i in impls if i not in known]
  if bad or not impls:
    print(f"error: --impl={args.impl!r}: {f'unknown for {args.case}: {bad}' if bad else 'empty'}"
          f" (choose from {', '.join(sorted(known))})", file=sys.stderr)
    return 2
  for name in ("calls", "warmup", "top"):
    if getattr(args, name) < 1:
      print(f"error: --{name}={getattr(args, name)}: must be >= 1", file=sys.stderr)
      return 2
  if args.worker:
    try:
      if args.worker == "torch":
        torch_report(args.case, args.calls, args.warmup, args.top, args.tiny)
      else:
        jax_report(args.case, args.worker, args.calls, args.warmup, args.top, args.timeline,
                   args.tiny)
    except rnn_speed.Skip as e:
      print(f"{args.case} {args.worker}: skipped: {e}")
    except (ValueError, RuntimeError) as e:  # a trace that cannot be read as the program's
      print(f"error: {args.case} {args.worker}: {e}", file=sys.stderr)
      return 1
    return 0
  status = 0
  for impl in impls:  # a fresh process each: JAX and PyTorch bring their own OpenMP and heaps
    cmd = [sys.executable, "-m", "benchmarks.step_profile", "--worker", impl,
           "--case", args.case, "--impl", impl, "--calls", str(args.calls),
           "--warmup", str(args.warmup), "--top", str(args.top)]
    cmd += ["--timeline"] * args.timeline + ["--tiny"] * args.tiny
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, check=False)
    sys.stdout.write(out.stdout)
    if out.returncode:
      status = 1
      print(f"{args.case} {impl}: failed (exit {out.returncode}):\n{out.stderr[-2000:]}")
    sys.stdout.flush()
  return status


if __name__ == "__main__":
  sys.exit(main())
