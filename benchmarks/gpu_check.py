"""The one-shot GPU check (``benchmarks/gpu_check.sh`` runs it after installing the carried
wheels). Every step writes under ``--out``; together they take about 5 minutes on one H100/H200
(at most 8; the device tool's limit for one command is 10):

1. ``env.json``: the GPU and driver (``nvidia-smi``), the CPU, Python, the versions of jax,
   jaxlib, flax, optax, orbax-checkpoint, torch, and JAX's devices.
2. ``tests.log`` / ``tests.xml``: the cuDNN kernel tests and the fused/scan equivalence tests
   (the slow ones too), run on the GPU (``tests/recurrence/test_cudnn.py``, ``test_fused.py``),
   with every skip's reason; at most 150 s.
3. ``speed.txt`` / ``speed.json``: ``benchmarks.rnn_speed --device gpu``: LSTM and GRU training
   and inference, seqjax's back ends (fused, scan, cuDNN, bf16) against ``torch.nn.LSTM/GRU``
   (cuDNN, float32 and bf16) at B·T·H 64·35·650 and 128·100·1024 and the three CPU shapes,
   interleaved as on the CPU, and PTB small and medium training steps end to end. One case at
   a time, the targets' cases first, the table rewritten after each; no case starts after
   200 s, and the step is stopped at 300 s, so the whole check ends inside 8 minutes.
4. ``results.md``: the tables, and each of the issue's targets with the measured figure.

``--dry-run`` runs the same code on a CPU (the test suite does, so that the check cannot rot):
tiny shapes and a few cases, the cuDNN tests only (their GPU tests skip with the reason), the
GPU-only implementations listed as skipped with the reason. Without ``--dry-run`` the check
refuses to run where JAX sees no GPU: a CPU measurement is never reported as a GPU one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU_TESTS = ["tests/recurrence/test_cudnn.py", "tests/recurrence/test_fused.py"]
DRY_TESTS = ["tests/recurrence/test_cudnn.py"]
DRY_CASES = "lstm-train-64x35x650,gru-infer-64x35x650,ptb-medium"
GPU_SHAPES = ("64x35x650x650", "128x100x1024x1024")
TARGET = 0.8  # seqjax's best float32 back end / PyTorch cuDNN, training, at both GPU shapes


def _run(cmd, timeout, log_path=None, env=None):
  """Runs ``cmd`` (a list) in the repository; returns (rc, output). Output goes to
  ``log_path`` too. A timeout is rc 124."""
  try:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    rc, out = proc.returncode, proc.stdout + proc.stderr
  except subprocess.TimeoutExpired as e:
    rc = 124
    out = ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes)
           else (e.stdout or "")) + f"\n[timed out after {timeout} s]\n"
  except OSError as e:
    rc, out = 127, f"{type(e).__name__}: {e}\n"
  if log_path:
    with open(log_path, "w", encoding="utf-8") as f:
      f.write(out)
  return rc, out


def environment() -> dict:
  """What ran the check: the machine, the driver, the versions, JAX's devices."""
  env = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
         "python": platform.python_version(), "machine": platform.machine()}
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      env["cpu"] = next((line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name")), "")
  except OSError:
    env["cpu"] = ""
  env["cpus"] = os.cpu_count()
  rc, out = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                  "--format=csv,noheader"], 30)
  env["gpu"] = out.strip() if rc == 0 else f"none (nvidia-smi: rc {rc})"
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  versions = {}
  for name in ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda12-plugin", "flax", "optax",
               "orbax-checkpoint", "torch", "numpy", "tensorflow-datasets", "grain"):
    try:
      versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      pass
  env["versions"] = versions
  import jax  # pylint: disable=g-import-not-at-top
  env["jax_backend"] = jax.default_backend()
  env["jax_devices"] = [str(d) for d in jax.devices()]
  try:
    import torch  # pylint: disable=g-import-not-at-top
    env["torch_cuda"] = torch.cuda.is_available()
    env["torch_cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
  except ImportError:
    env["torch_cuda"] = None
  return env


def run_tests(out: str, files: list[str], timeout: int) -> dict:
  """pytest on ``files`` (every test, the slow ones too); per-test outcomes from JUnit XML."""
  xml_path = os.path.join(out, "tests.xml")
  rc, text = _run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                   "-m", "slow or not slow", f"--junitxml={xml_path}", *files], timeout,
                  os.path.join(out, "tests.log"))
  outcomes = {}
  if os.path.exists(xml_path):
    for case in ET.parse(xml_path).getroot().iter("testcase"):
      name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
      skipped, failed = case.find("skipped"), case.find("failure")
      if failed is None:
        failed = case.find("error")
      if failed is not None:
        outcomes[name] = ("failed", (failed.get("message") or "")[:300])
      elif skipped is not None:
        outcomes[name] = ("skipped", skipped.get("message") or "")
      else:
        outcomes[name] = ("passed", "")
  summary = text.strip().splitlines()[-1] if text.strip() else ""
  return {"rc": rc, "summary": summary, "outcomes": outcomes}


def run_speed(out: str, dry_run: bool, timeout: int) -> dict:
  json_path = os.path.join(out, "speed.json")
  cmd = [sys.executable, "-m", "benchmarks.rnn_speed", "--device", "gpu", "--json", json_path,
         "--log", os.path.join(out, "speed_workers.log")]
  cmd += (["--tiny", "--rounds", "1", "--batch_seconds", "0.01", "--only", DRY_CASES]
          if dry_run else ["--rounds", "3", "--batch_seconds", "0.2", "--budget_s", "200"])
  rc, _ = _run(cmd, timeout, os.path.join(out, "speed.txt"))
  rows = []
  if os.path.exists(json_path):
    with open(json_path, encoding="utf-8") as f:
      rows = json.load(f)
  return {"rc": rc, "rows": rows}


def _fmt(x: float) -> str:
  return "—" if x != x else (f"{x / 1e3:,.1f}k" if x >= 1e3 else f"{x:,.0f}")


def targets(tests: dict, rows: list[dict], dry_run: bool) -> list[tuple[str, str, str]]:
  """``(target, measured, met)`` for each of the issue's targets."""
  out = []
  cudnn = {k: v for k, v in tests["outcomes"].items() if "cudnn_kernel_matches" in k}
  if not cudnn or all(v[0] == "skipped" for v in cudnn.values()):
    reason = next(iter(cudnn.values()))[1] if cudnn else "the test did not run"
    out.append(("cuDNN back end = scan within float32 tolerance (values and gradients)",
                f"not run: {reason}", "not measured"))
  else:
    ok = all(v[0] == "passed" for v in cudnn.values())
    out.append(("cuDNN back end = scan within float32 tolerance (values and gradients)",
                f"{sum(v[0] == 'passed' for v in cudnn.values())}/{len(cudnn)} tests passed "
                "(rtol 1e-4 values, 1e-3 gradients)", "yes" if ok else "no"))
  timed = [r for r in rows if "tok_s" in r]
  for cell in ("lstm", "gru"):
    for shape in GPU_SHAPES:
      case = f"{cell}-train-{shape}"
      here = {r["impl"]: r for r in timed if r["case"] == case}
      best = max((r for name, r in here.items()
                  if name.startswith("seqjax") and name != "seqjax-bf16"),
                 key=lambda r: r["tok_s"], default=None)
      label = f"{cell.upper()} training {shape}: best seqjax back end ≥ {TARGET}× PyTorch cuDNN"
      if dry_run or best is None or "torch" not in here:
        out.append((label, "not measured (dry run)" if dry_run else "not measured", "—"))
        continue
      ratio = best["tok_s"] / here["torch"]["tok_s"]
      out.append((label, f"{best['impl']} {ratio:.2f}× ({_fmt(best['tok_s'])} vs "
                  f"{_fmt(here['torch']['tok_s'])} tok/s)", "yes" if ratio >= TARGET else "no"))
  return out


def write_results(out: str, env: dict, tests: dict, speed: dict, dry_run: bool) -> str:
  lines = [f"# GPU check{' (DRY RUN on CPU: tiny shapes, not a measurement)' if dry_run else ''}",
           "", f"{env['date_utc']} UTC; GPU: {env['gpu']}; CPU: {env['cpu']} ({env['cpus']}); "
           f"Python {env['python']}; " + ", ".join(f"{k} {v}" for k, v in
                                                   env["versions"].items())
           + f"; JAX backend {env['jax_backend']} ({', '.join(env['jax_devices'][:2])}).", "",
           "## Tests", "",
           f"`pytest {' '.join(GPU_TESTS if not dry_run else DRY_TESTS)}`: {tests['summary']}", ""]
  for name, (outcome, why) in sorted(tests["outcomes"].items()):
    if outcome != "passed":
      lines.append(f"- {name}: {outcome}{': ' + why if why else ''}")
  lines += ["", "## Throughput (tokens/s; × PyTorch, median of per-round ratios)", "",
            "| case | implementation | tokens/s | × torch |", "|---|---|---|---|"]
  for r in speed["rows"]:
    if "tok_s" in r:
      ratio = ("—" if r["x_torch"] != r["x_torch"] else
               f"{r['x_torch']:.2f} ({r['x_torch_min']:.2f}–{r['x_torch_max']:.2f})")
      lines.append(f"| {r['case']} | {r['impl']} | {_fmt(r['tok_s'])} | {ratio} |")
    else:
      lines.append(f"| {r['case']} | {r['impl']} | {'skipped' if 'skipped' in r else 'failed'}: "
                   f"{r.get('skipped') or r.get('error')} | |")
  lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
  lines += [f"| {t} | {m} | {ok} |" for t, m, ok in targets(tests, speed["rows"], dry_run)]
  text = "\n".join(lines) + "\n"
  with open(os.path.join(out, "results.md"), "w", encoding="utf-8") as f:
    f.write(text)
  return text


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", required=True, help="where every result file goes ($OUT)")
  parser.add_argument("--dry-run", action="store_true",
                      help="on a CPU: tiny shapes, a few cases, the GPU parts skipped")
  parser.add_argument("--skip_tests", action="store_true", help="only the throughput part")
  args = parser.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  start = time.time()
  env = environment()
  with open(os.path.join(args.out, "env.json"), "w", encoding="utf-8") as f:
    json.dump(env, f, indent=1)
  print(f"[{time.time() - start:5.0f}s] {env['gpu']}; JAX backend {env['jax_backend']}",
        flush=True)
  if env["jax_backend"] != "gpu" and not args.dry_run:
    print("gpu_check: JAX sees no GPU (backend "
          f"{env['jax_backend']!r}); refusing to report CPU numbers as GPU ones (use --dry-run "
          "on a CPU)", file=sys.stderr)
    return 2
  tests = {"rc": 0, "summary": "not run (--skip_tests)", "outcomes": {}}
  if not args.skip_tests:
    tests = run_tests(args.out, DRY_TESTS if args.dry_run else GPU_TESTS,
                      timeout=150 if not args.dry_run else 300)
    print(f"[{time.time() - start:5.0f}s] tests: {tests['summary']}", flush=True)
  speed = run_speed(args.out, args.dry_run, timeout=300 if not args.dry_run else 300)
  print(f"[{time.time() - start:5.0f}s] throughput: rc {speed['rc']}, {len(speed['rows'])} rows",
        flush=True)
  print(write_results(args.out, env, tests, speed, args.dry_run), flush=True)
  return 0 if tests["rc"] in (0, 5) and speed["rc"] == 0 else 1


if __name__ == "__main__":
  sys.exit(main())
