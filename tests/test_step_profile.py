"""``benchmarks/step_profile.py``: operation kinds read from a real compiled program, a trace cut
into calls, one-line errors for bad flags, and both tables end to end at a tiny shape."""

import gzip
import importlib.util
import json
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from benchmarks import hlo, step_profile


def test_operation_kinds_and_levels_of_a_compiled_scan():
  def f(w, x):
    def body(h, xt):
      h = jnp.tanh(h @ w + xt)
      return h, h
    _, hs = jax.lax.scan(body, jnp.zeros((4, 8)), x)
    return jnp.sum(hs @ w, axis=-1)
  w, x = jnp.ones((8, 8)), jnp.ones((5, 4, 8))
  ops = step_profile.hlo_ops(jax.jit(f).lower(w, x).compile().as_text())
  loops = [n for n, op in ops.items() if op["kind"] == "loop"]
  assert len(loops) == 1 and ops[loops[0]]["level"] == "step"
  in_loop = {op["kind"] for op in ops.values() if op["level"] == "loop"}
  at_step = {op["kind"] for op in ops.values() if op["level"] == "step"}
  assert any(k.startswith("matmul") for k in in_loop), ops  # h @ w, once a step
  assert any(k.startswith("matmul") for k in at_step), ops  # hs @ w, after the loop
  assert any(k.startswith("reduction") for k in at_step), ops  # the sum
  with pytest.raises(ValueError, match="no ENTRY"):
    step_profile.hlo_ops("%f (p: f32[]) -> f32[] {\n  ROOT %p = f32[] parameter(0)\n}\n")


def test_a_trace_is_cut_into_its_calls(tmp_path):
  ops = {"dot.1": {}, "fusion.2": {}}
  events = [
      {"ph": "M", "name": "thread_name", "pid": 1, "tid": 7, "args": {"name": "XLAEigen/7"}},
      {"ph": "X", "name": "call0", "pid": 1, "tid": 1, "ts": 1000, "dur": 500},
      {"ph": "X", "name": "fusion.2", "pid": 1, "tid": 7, "ts": 1300, "dur": 100},
      {"ph": "X", "name": "dot.1", "pid": 1, "tid": 7, "ts": 1100, "dur": 150},
      {"ph": "X", "name": "ThunkExecutor::Execute", "pid": 1, "tid": 7, "ts": 1050, "dur": 400},
      {"ph": "X", "name": "call1", "pid": 1, "tid": 1, "ts": 3000, "dur": 1000},
      {"ph": "X", "name": "dot.1", "pid": 1, "tid": 9, "ts": 3200, "dur": 700},
      {"ph": "X", "name": "dot.1", "pid": 1, "tid": 9, "ts": 5000, "dur": 50},  # after both
  ]
  path = tmp_path / "perfetto_trace.json.gz"
  with gzip.open(path, "wt") as f:
    json.dump({"traceEvents": events}, f)
  calls = step_profile.trace_calls(str(path), ops)
  assert calls == [(0.5, [("dot.1", 0.1, 0.15, "XLAEigen/7"), ("fusion.2", 0.3, 0.1, "XLAEigen/7")]),
                   (1.0, [("dot.1", 0.2, 0.7, "9")])]


@pytest.mark.parametrize("argv, message", [
    (["--case", "lstm-train-1x1x1x1"], "error: --case='lstm-train-1x1x1x1': not one of "),
    (["--case", "ptb-small-train", "--impl", "seqjax,flax"],
     "error: --impl='seqjax,flax': unknown for ptb-small-train: ['flax'] (choose from "),
    (["--impl", ","], "error: --impl=',': empty (choose from "),
    (["--calls", "0"], "error: --calls=0: must be >= 1"),
])
def test_bad_flags_are_one_line_exit_2(argv, message, capsys):
  assert step_profile.main(argv) == 2
  err = capsys.readouterr().err
  assert err.startswith(message) and err.count("\n") == 1, err


@pytest.mark.slow  # two fresh processes, one importing JAX, one PyTorch
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
@pytest.mark.parametrize("case, impl, header, kind", [
    ("lstm-train-64x35x200x200", "seqjax-scan", "seqjax-scan (back end: scan): ", "(loop)"),
    ("ptb-small-train", "seqjax", "seqjax: ", "(matmul"),  # the whole training step
])
def test_both_tables_at_a_tiny_shape(case, impl, header, kind):
  out = subprocess.run([sys.executable, "-m", "benchmarks.step_profile", "--tiny",
                        "--case", case, "--impl", f"{impl},torch",
                        "--calls", "3", "--warmup", "1", "--top", "3", "--timeline"],
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stdout + out.stderr
  lines = out.stdout.splitlines()
  head = [i for i, line in enumerate(lines) if " ms a call (min " in line]
  assert len(head) == 2, out.stdout
  assert lines[head[0]].startswith(f"{case} {header}")
  assert lines[head[1]].startswith(f"{case} torch (")
  jax_rows = lines[head[0] + 3:lines.index(next(x for x in lines if "timeline of call" in x))]
  timeline = lines[lines.index(next(x for x in lines if "timeline of call" in x)) + 1:head[1]]
  assert any(kind in r for r in timeline), timeline  # the scan's while; the output layer
  cells = [re.search(r" (\d+\.\d\d) +(\d+\.\d)%", r) for r in jax_rows]
  step_rows = [(float(c.group(1)), float(c.group(2))) for c in cells if c]
  assert step_rows and abs(sum(share for _, share in step_rows) - 100) < 0.5, jax_rows
  total = float(re.search(r"sum to ([\d.]+) ms", lines[head[0] + 1]).group(1))
  assert abs(sum(ms for ms, _ in step_rows) - total) < 0.05, (total, jax_rows)
  starts = [float(t.split()[0]) for t in timeline]
  assert timeline and starts == sorted(starts)
  torch_rows = lines[head[1] + 3:]
  assert len(torch_rows) == 3, torch_rows
  for r in torch_rows:  # operator, runs, self ms, share, total ms
    m = re.fullmatch(r"  (\S.*?) +(\d+) +([\d.]+) +([\d.]+)% +([\d.]+)", r)
    assert m and float(m.group(3)) <= float(m.group(5)) + 0.01, r


def test_a_call_is_summarized_by_operation_and_a_trace_that_does_not_match_is_refused():
  ops = {"dot.1": {"level": "step"}, "fusion.2": {"level": "step"}, "dot.3": {"level": "loop"}}
  per_call = [(5.0, [("dot.1", 0.0, 3.0, "t"), ("dot.3", 0.1, 0.5, "t"), ("dot.3", 0.7, 0.5, "t"),
                     ("fusion.2", 3.0, 1.0, "t")]),
              (6.0, [("dot.1", 0.0, 4.0, "t"), ("dot.3", 0.1, 0.7, "t"), ("dot.3", 0.9, 0.7, "t")]),
              (7.0, [("dot.1", 0.0, 5.0, "t"), ("dot.3", 0.1, 0.9, "t"), ("dot.3", 1.1, 0.9, "t"),
                     ("fusion.2", 5.0, 2.0, "t")])]
  table, step_total = step_profile.summarize(per_call, ops, 3)
  # Medians over the calls; fusion.2 missing from a call counts 0 ms there: median(1, 0, 2).
  assert table == {"dot.1": (4.0, 1), "dot.3": (1.4, 2), "fusion.2": (1.0, 1)}
  assert step_total == 5.0  # the loop's own operations are inside its time, not added
  # Fault injection: a trace whose thunk names are not the program's, and one short of calls.
  renamed = [(w, [(n.replace(".", "_"), *rest) for n, *rest in rows]) for w, rows in per_call]
  with pytest.raises(ValueError, match="thunk names do not match the program's"):
    step_profile.summarize([(w, [r for r in rows if r[0] in ops]) for w, rows in renamed],
                           ops, 3)
  with pytest.raises(ValueError, match="the trace holds 2 profiled calls, not 3"):
    step_profile.summarize(per_call[:2], ops, 3)


def test_the_shared_hlo_reader_finds_the_entry_and_the_loop_body():
  x = jnp.ones((5, 4))
  text = jax.jit(lambda x: jax.lax.scan(lambda c, xt: (c + xt, c * 2), jnp.zeros(4), x)[1]).lower(
      x).compile().as_text()
  comps, entry = hlo.computations(text)
  # XLA:CPU may wrap a small loop in a call, compiled as one thunk: step_profile names it so.
  whiles = [rhs for instrs in comps.values() for _, op, rhs in instrs if op == "while"]
  assert len(whiles) == 1
  calls = [op["kind"] for op in step_profile.hlo_ops(text).values()
           if op["kind"].startswith("call")]
  if any(op == "while" for _, op, _ in comps[entry]):  # the loop is the program's own thunk
    assert calls == []
  else:
    assert calls == ["call (a loop inside)"]
  body = re.search(r"body=%?([\w.\-]+)", whiles[0]).group(1)
  assert body in comps and comps[body] and all(op for _, op, _ in comps[body])
  assert all(" = " not in name and not name.startswith(("%", "ROOT")) for name, _, _ in
             comps[entry])
