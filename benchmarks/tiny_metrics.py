"""Records (or compares) every experiment's ``tiny`` config, metrics step by step.

A refactor must change no number: run this before it (``--out=before``), again after it
(``--out=after --compare=before``), and read the differences. Each experiment runs through its
``main.py`` command line on generated data (the test suite's fake datasets) with
``train.log_every=1``, so every training step's loss is in ``metrics.jsonl``.

    python -m benchmarks.tiny_metrics --out=/tmp/tiny_before
    python -m benchmarks.tiny_metrics --out=/tmp/tiny_after --compare=/tmp/tiny_before

The comparison prints, per experiment, the largest absolute difference of any logged metric and
of any number in ``results.json`` (timings excluded), and exits 1 when one exceeds ``--atol``.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes import data as fakes  # noqa: E402  (the generated datasets)

# experiment -> (fake data writer or None, extra flags)
EXPERIMENTS = {
    "lm": (fakes.write_ptb_like, []),
    "sentiment": (fakes.write_sst2_like, []),
    "translate": (fakes.write_multi30k_like, []),
    "tagging": (fakes.write_conllu_like, []),
    "recsys": (fakes.write_diginetica_like, []),
    "word2vec": (fakes.write_topics, []),
    "synthetic": (None, []),
}
IGNORED = ("seconds", "steps_per_s", "tok/s", "eta", "plots", "signature", "sample")


def run(name: str, out: pathlib.Path) -> None:
  writer, extra = EXPERIMENTS[name]
  root = out / name
  shutil.rmtree(root, ignore_errors=True)
  root.mkdir(parents=True)
  args = [sys.executable, "-m", f"experiments.{name}.main",
          f"--config=experiments/{name}/configs/tiny.py", f"--workdir={root / 'work'}",
          "--config.train.log_every=1", *extra]
  if writer is not None:
    writer(root / "raw")
    args += [f"--config.data.manual_dir={root / 'raw'}", f"--config.data.data_dir={root / 'tfds'}"]
  proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=1200)
  (root / "log.txt").write_text(proc.stdout + proc.stderr)
  print(f"{name}: rc {proc.returncode}", flush=True)
  if proc.returncode:
    print(proc.stderr[-3000:])


def _numbers(tree, prefix=""):
  if isinstance(tree, dict):
    for k, v in tree.items():
      if not any(s in k for s in IGNORED):
        yield from _numbers(v, f"{prefix}{k}.")
  elif isinstance(tree, list):
    for i, v in enumerate(tree):
      yield from _numbers(v, f"{prefix}{i}.")
  elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
    yield prefix.rstrip("."), float(tree)


def load(root: pathlib.Path) -> tuple[dict, dict]:
  work = root / "work"
  metrics = {}
  for line in (work / "metrics.jsonl").read_text().splitlines():
    row = json.loads(line)
    for k, v in _numbers(row):
      if k not in ("step",):
        metrics[(row["split"], row["step"], k)] = v
  results = {}
  if (work / "results.json").exists():
    results = dict(_numbers(json.loads((work / "results.json").read_text())))
  return metrics, results


def compare(name: str, new: pathlib.Path, old: pathlib.Path, atol: float) -> bool:
  (m_new, r_new), (m_old, r_old) = load(new / name), load(old / name)
  ok = True
  for what, a, b in (("metrics", m_new, m_old), ("results", r_new, r_old)):
    missing = sorted(set(b) - set(a), key=str)[:5]
    added = sorted(set(a) - set(b), key=str)[:5]
    worst, where = 0.0, None
    for k in set(a) & set(b):
      d = abs(a[k] - b[k]) if math.isfinite(a[k]) and math.isfinite(b[k]) else float(a[k] != b[k])
      if d > worst:
        worst, where = d, k
    print(f"{name} {what}: {len(set(a) & set(b))} shared values, max |diff| {worst:.3g}"
          f"{f' at {where}' if where else ''}"
          f"{f'; missing {missing}' if missing else ''}{f'; new {added}' if added else ''}")
    ok &= worst <= atol and not missing
  return ok


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True)
  parser.add_argument("--compare", default="")
  parser.add_argument("--only", default=",".join(EXPERIMENTS))
  parser.add_argument("--atol", type=float, default=1e-5)
  args = parser.parse_args()
  out = pathlib.Path(args.out).resolve()
  names = [n for n in args.only.split(",") if n]
  for name in names:
    run(name, out)
  if args.compare:
    ok = all([compare(n, out, pathlib.Path(args.compare).resolve(), args.atol) for n in names])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
  main()
