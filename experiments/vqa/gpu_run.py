"""Sort-of-CLEVR on a lent GPU, in one command (``experiments/vqa/gpu_run.sh`` runs it after
installing the carried wheels): the runs that the Relation Network's target needs and that 2 CPU
cores cannot give (a step of the paper's RN costs about 1.5 s there; the public reproductions
train it for ~20 epochs, 61k steps).

1. ``env.json``: the GPU, JAX's devices, the versions, the commit.
2. The dataset (``sort_of_clevr``: 9,800 / 200 / 1,000 images, generated, nothing downloaded),
   prepared once under ``--work`` (its time is in ``results.md``).
3. For each model (``--models``, default ``rn,cnn_mlp``; ``CONFIGS`` below: ``rn`` at the
   paper's g of 4 x 256 units, ``rn_bn`` and ``rn_bn_g256`` the batch-normalised recipe of
   ``configs/rn_bn.py`` as it is and at the paper's g, ``rn_bn_text`` the same with English
   questions, ``rn_bn_wide`` and ``rn_bn_wide_cos`` with the paper's encoder (constant and
   cosine-decayed learning rate), ``rn_bn_g256_49k`` on 49,000 training images
   (``sort_of_clevr_49k``, prepared too), ``cnn_mlp``, ``san``):
   ``experiments.vqa.main`` with its config (``--norm=batch`` puts the paper's batch
   normalisation in every model's encoder; ``--steps`` sets ``train.num_steps``), validated
   every ``--eval_every`` steps, stopped with SIGTERM when its budget (``--budget=MODEL=S,
   default=S``, else ``--rn_seconds``, ``--cnn_mlp_seconds``, ``--san_seconds``) is spent (the
   trainer finishes the step, saves it and exits 143), then ``--mode=eval`` scores the best
   checkpoint on the test set, and for an RN ``experiments.vqa.margins`` scores it by the gap
   to the runner-up. One model after the other, or with ``--parallel`` side by side
   (one process each on the one GPU, memory taken as needed). ``<model>/`` in ``--out`` gets
   ``eval_best.json``, ``metrics.jsonl``, ``config.json``, ``curves.png``, the logs and, for an
   RN, ``margins.json`` / ``margins.txt`` (not the checkpoints).
4. ``results.md``: steps, epochs, wall time and seconds per step, test accuracy overall,
   relational, non-relational and per subtype, each RN's closest and furthest accuracy over
   every gap, at gaps of 8 px or more and on near ties of the other shape, and the issue's
   targets (RN >= 94% on both kinds; the CNN+MLP far below the RN on relational questions).

The defaults fit the device tool's 600 s per command: preparing ~60 s, the RN 300 s, the
CNN+MLP 120 s, two evaluations and JAX's compilations. ``--dry-run`` runs the same code on a CPU
(the test suite does): the tiny dataset and sizes, the RN stopped by a 60 s budget, the
CNN+MLP after 6 steps. Without it the run
refuses a machine where JAX sees no GPU, so CPU results are never reported as GPU ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
G256 = "--config.model.g_sizes=256,256,256,256"  # the paper's g
COSINE = ["--config.optimizer.schedule=warmup_cosine", "--config.optimizer.warmup_steps=1000",
          "--config.optimizer.total_steps=130000"]
CONFIGS = {
    "rn": ("experiments/vqa/configs/rn.py", [G256]),
    # the recipe that left the colour-blind plateau on 2 CPU cores (configs/rn_bn.py: batch
    # normalisation, g of 2 x 128, 64 images x 1 question), as it is and at the paper's g
    "rn_bn": ("experiments/vqa/configs/rn_bn.py", []),
    "rn_bn_g256": ("experiments/vqa/configs/rn_bn.py", [G256]),
    # the same with English questions through a 128-unit LSTM (configs/rn_bn_text.py)
    "rn_bn_text": ("experiments/vqa/configs/rn_bn_text.py", []),
    # the paper's encoder (32, 64, 128, 256 kernels) and g (configs/rn_bn_wide.py), with a
    # constant learning rate and with a linear warmup then cosine decay to 0 at step 130,000
    "rn_bn_wide": ("experiments/vqa/configs/rn_bn_wide.py", []),
    "rn_bn_wide_cos": ("experiments/vqa/configs/rn_bn_wide.py", COSINE),
    # rn_bn_g256 on five times the training images (DATASETS; not in the paper)
    "rn_bn_g256_49k": ("experiments/vqa/configs/rn_bn.py", [G256]),
    "cnn_mlp": ("experiments/vqa/configs/cnn_mlp.py", []),
    "san": ("experiments/vqa/configs/san.py", []),
}
# Models trained on another dataset than ``sort_of_clevr`` (its validation and test images are
# sort_of_clevr's, so their scores compare).
DATASETS = {"rn_bn_g256_49k": "sort_of_clevr_49k"}
SUBTYPES = ("shape", "horizontal", "vertical", "closest", "furthest", "count")
NORMS = ("none", "batch")
BUDGET_FLAGS = {"rn": "rn_seconds", "cnn_mlp": "cnn_mlp_seconds", "san": "san_seconds"}
TARGET = 0.94  # the paper's RN, relational and non-relational
GRACE_S = 90  # after SIGTERM: the step in flight finishes and is saved


def _env(dry_run: bool) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  env = {"jax_backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
         "versions": {}, "dry_run": dry_run}
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint"):
    try:
      env["versions"][name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      env["versions"][name] = None
  try:
    env["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                 "--format=csv,noheader"], capture_output=True, text=True,
                                timeout=30).stdout.strip()
  except (OSError, subprocess.TimeoutExpired):
    env["gpu"] = None
  env["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                 text=True).stdout.strip() or None
  # The device tool copies the working tree over the checkout's first commit: say so.
  dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                         capture_output=True, text=True)
  env["tree_differs_from_commit"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
  return env


def _prepare(name: str, data_dir: str) -> float:
  t = time.perf_counter()
  from seqjax.data import registry  # pylint: disable=g-import-not-at-top
  registry.prepare(name, kind=registry.VQA, data_dir=data_dir)
  return time.perf_counter() - t


def dataset_of(model: str, dry_run: bool) -> str:
  """The dataset ``model`` trains on: ``DATASETS``'s, else ``sort_of_clevr``; the tiny set in a
  dry run."""
  return "sort_of_clevr_tiny" if dry_run else DATASETS.get(model, "sort_of_clevr")


def _flags(model: str, args, data_name: str, data_dir: str, workdir: str) -> list[str]:
  config, extra = CONFIGS[model]
  flags = [f"--config={config}", f"--workdir={workdir}", f"--config.data.name={data_name}",
           f"--config.data.data_dir={data_dir}", f"--config.train.eval_every={args.eval_every}",
           f"--config.train.num_epochs={args.epochs}", "--config.parallel.data=1"]
  if args.norm:  # else each config's own
    flags.append(f"--config.model.norm={args.norm}")
  if args.dry_run:  # an RN runs until its budget stops it, the CNN+MLP to its last step
    steps = 1_000_000 if model.startswith("rn") else 6
    flags += [f"--config.train.num_steps={steps}", "--config.train.log_every=2",
              "--config.train.checkpoint_every=3", "--config.model.g_sizes=8,8",
              "--config.model.mlp_size=8", "--config.model.f_sizes=8"]
  else:
    flags += extra
    if args.steps:  # the budget stops the run; the configs' schedules are constant
      flags.append(f"--config.train.num_steps={args.steps}")
  return flags


def budget_of(model: str, args) -> float:
  """``model``'s training budget in seconds: ``--budget`` names it, else its own flag
  (``--rn_seconds`` ...), else ``--budget``'s ``default``, else ``--rn_seconds``."""
  if model in args.budgets:
    return args.budgets[model]
  if model in BUDGET_FLAGS:
    return getattr(args, BUDGET_FLAGS[model])
  return args.budgets.get("default", args.rn_seconds)


def parse_budgets(text: str) -> dict:
  """``--budget=rn_bn=400,default=300`` as ``{"rn_bn": 400.0, "default": 300.0}``; a bad item
  raises ValueError naming it."""
  budgets = {}
  for item in filter(None, text.split(",")):
    name, sep, value = item.partition("=")
    try:
      seconds = float(value)
    except ValueError:
      seconds = -1.0
    if not sep or seconds <= 0 or (name not in CONFIGS and name != "default"):
      raise ValueError(f"--budget: {item!r} is not MODEL=SECONDS with MODEL one of "
                       f"{sorted(CONFIGS) + ['default']} and SECONDS > 0")
    budgets[name] = seconds
  return budgets


def check_models(models: list[str], args) -> str:
  """What is wrong with ``--models`` and the flags that depend on it, in one line naming the
  flag ("" when nothing is): unknown or repeated models (two runs of one workdir), a
  ``--budget`` for a model not run, a negative ``--steps``."""
  unknown = sorted(set(models) - set(CONFIGS))
  if unknown or not models:
    return f"--models: unknown {unknown or 'empty'}; choose from {sorted(CONFIGS)}"
  repeated = sorted({m for m in models if models.count(m) > 1})
  if repeated:
    return f"--models: {repeated} named twice (one workdir each)"
  idle = sorted(set(args.budgets) - set(models) - {"default"})
  if idle:
    return f"--budget: {idle} not among --models={','.join(models)}"
  if args.steps < 0:
    return f"--steps={args.steps}: must be >= 0 (0: each config's own)"
  return ""


def _train(cmd: list[str], budget_s: float, log_path: str,
           env: dict | None = None) -> tuple[int, float, bool]:
  """Runs ``cmd``; after ``budget_s`` sends SIGTERM (then SIGKILL after ``GRACE_S``). Returns
  (exit status, wall seconds, whether the budget stopped it)."""
  t = time.perf_counter()
  stopped = False
  with open(log_path, "w", encoding="utf-8") as log:
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    try:
      rc = proc.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:
      stopped = True
      proc.send_signal(signal.SIGTERM)
      try:
        rc = proc.wait(timeout=GRACE_S)
      except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
  return rc, time.perf_counter() - t, stopped


def _read_metrics(workdir: str) -> list[dict]:
  from seqjax.train.writer import read_metrics  # pylint: disable=g-import-not-at-top
  return read_metrics(workdir) if os.path.exists(os.path.join(workdir, "metrics.jsonl")) else []


def run_model(model: str, args, data_dir: str) -> dict:
  workdir = os.path.join(args.work, model)  # kept: a second run resumes it exactly
  out_dir = os.path.join(args.out, model)
  os.makedirs(out_dir, exist_ok=True)
  budget = budget_of(model, args)
  main = [sys.executable, "-m", "experiments.vqa.main"]
  flags = _flags(model, args, dataset_of(model, args.dry_run), data_dir, workdir)
  # Side by side on one GPU, each process takes memory as it needs it, not 75% up front.
  env = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"} if args.parallel else None
  start = max((r["step"] for r in _read_metrics(workdir) if r.get("split") == "train"),
              default=0)  # a resumed run: the steps before this one
  rc, wall, stopped = _train(main + flags, budget, os.path.join(out_dir, "train.log"), env)
  row = {"model": model, "train_rc": rc, "train_s": round(wall, 1), "stopped_by_budget": stopped,
         "budget_s": budget}
  rows = _read_metrics(workdir)
  train_steps = [r["step"] for r in rows if r.get("split") == "train"]
  row["steps"] = max(train_steps) if train_steps else 0
  row["start_step"] = start
  evals = [r for r in rows if r.get("split") == "eval"]
  row["validation"] = [(r["step"], r.get("accuracy")) for r in evals]
  if not evals:
    row["error"] = f"no validation before the run ended (exit {rc}); see {model}/train.log"
  else:
    erc = subprocess.run(main + flags + ["--mode=eval", "--checkpoint=best", "--split=test"],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, **(env or {})})
    with open(os.path.join(out_dir, "eval.log"), "w", encoding="utf-8") as f:
      f.write(erc.stdout + erc.stderr)
    path = os.path.join(workdir, "eval_best.json")
    if erc.returncode != 0 or not os.path.exists(path):
      row["error"] = f"--mode=eval failed (exit {erc.returncode}); see {model}/eval.log"
    else:
      with open(path, encoding="utf-8") as f:
        row["eval"] = json.load(f)
      if model.startswith("rn"):
        row.update(_margins(model, workdir, out_dir, env))
  for name in ("eval_best.json", "metrics.jsonl", "config.json"):
    if os.path.exists(os.path.join(workdir, name)):
      shutil.copy(os.path.join(workdir, name), out_dir)
  if rows:
    from seqjax import diagnostics  # pylint: disable=g-import-not-at-top
    diagnostics.plot_training_curves(workdir, os.path.join(out_dir, "curves.png"),
                                     metrics=("loss", "accuracy"))
  return row


def _margins(model: str, workdir: str, out_dir: str, env: dict | None) -> dict:
  """``experiments.vqa.margins`` on the best checkpoint (test split): closest and furthest
  accuracy by the gap to the runner-up, into ``margins.txt`` / ``margins.json``; returns
  ``{"margins": rows}`` or ``{"margins_error": why}``."""
  path = os.path.join(out_dir, "margins.json")
  out = subprocess.run([sys.executable, "-m", "experiments.vqa.margins", f"--workdir={workdir}",
                        "--checkpoint=best", "--split=test", f"--json={path}"], cwd=REPO,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
  with open(os.path.join(out_dir, "margins.txt"), "w", encoding="utf-8") as f:
    f.write(out.stdout + out.stderr)
  if out.returncode != 0 or not os.path.exists(path):
    return {"margins_error": f"margins failed (exit {out.returncode}); see {model}/margins.txt"}
  with open(path, encoding="utf-8") as f:
    return {"margins": json.load(f)["rows"]}


def _margin_cells(rows: list[dict]) -> list[str]:
  """Closest and furthest: accuracy over every gap, at gaps of 8 px or more, and on near ties
  (under 2 px) whose runner-up has the other shape (50% is a coin toss there)."""
  cells = []
  for subtype in ("closest", "furthest"):
    mine = [r for r in rows if r["subtype"] == subtype]
    every = next(r for r in mine if r["lo"] == 0 and r["hi"] is None)
    wide = [r for r in mine if r["lo"] >= 8 and r["hi"] is None]
    near = [r for r in mine if r["hi"] is not None and r["hi"] <= 2]
    n = sum(r["other_shape"] for r in near)
    right = sum(r["other_shape"] * r["accuracy_other_shape"] for r in near if r["other_shape"])
    pct = lambda v: "-" if v is None or v != v else f"{100 * v:.1f}%"
    cells += [pct(every["accuracy"]), pct(wide[0]["accuracy"] if wide else None),
              pct(right / n if n else None)]
  return cells


def _test_scores(row: dict) -> dict:
  """The test split's scores of ``eval_best.json`` (``{}`` when it was not scored)."""
  return row.get("eval", {}).get("test", {})


def results_md(env: dict, prep_s: float, rows: list[dict], args) -> str:
  head = "# Sort-of-CLEVR GPU run" + (" (DRY RUN on CPU: tiny data, not a result)"
                                      if args.dry_run else "")
  norm = args.norm or "each config's own"
  side = ("; the models trained side by side (--parallel)" if getattr(args, "parallel", False)
          else "")
  lines = [head, "", f"GPU: {env.get('gpu')}; JAX {env['versions'].get('jax')} "
           f"({env['jax_backend']}); commit {env.get('commit')}"
           + (" with local changes" if env.get("tree_differs_from_commit") else "")
           + "; dataset prepared in "
           f"{prep_s:.0f} s. Encoder normalisation: {norm}{side}.", "",
           "| model | steps | train s | s/step (this run, all in) | best validation | test | "
           "relational | non-relational | " + " | ".join(SUBTYPES) + " |",
           "|" + "---|" * (8 + len(SUBTYPES))]
  for row in rows:
    t = _test_scores(row)
    pct = lambda k, t=t: f"{100 * t[k]:.1f}%" if isinstance(t.get(k), (int, float)) else "-"
    best = max((a for _, a in row["validation"] if a is not None), default=None)
    ran = row["steps"] - row.get("start_step", 0)  # this run's steps (not a resumed run's)
    per_step = row["train_s"] / ran if ran > 0 else float("nan")
    lines.append(
        f"| {row['model']} | {row['steps']} | {row['train_s']:.0f} | {per_step:.3f} | "
        + (f"{100 * best:.1f}%" if best is not None else "-") + f" | {pct('accuracy')} | "
        f"{pct('relational')} | {pct('non_relational')} | "
        + " | ".join(pct(f"acc_{s}") for s in SUBTYPES) + " |")
  blind = getattr(args, "blind", None)
  if blind:
    cells = (["colour-blind oracle (no training; `experiments.vqa.baselines`)", "", "", "", ""]
             + [f"{100 * blind[k]:.1f}%" for k in ("accuracy", "relational", "non_relational")]
             + [f"{100 * blind['acc_' + s]:.1f}%" for s in SUBTYPES])
    lines.append("| " + " | ".join(cells) + " |")
  margins = [row for row in rows if row.get("margins")]
  if margins:
    lines += ["", "## Relational questions by the gap to the runner-up (`experiments.vqa.margins`)",
              "", "| model | closest | closest, gap >= 8 px | closest, near ties of the other "
              "shape | furthest | furthest, gap >= 8 px | furthest, near ties of the other "
              "shape |", "|" + "---|" * 7]
    for row in margins:
      lines.append(f"| {row['model']} | " + " | ".join(_margin_cells(row["margins"])) + " |")
  lines += ["", "## Targets", ""]
  by = {row["model"]: _test_scores(row) for row in rows}
  rns = {m: t for m, t in by.items() if m.startswith("rn") and "relational" in t}
  for name, rn in rns.items():
    ok = rn["relational"] >= TARGET and rn["non_relational"] >= TARGET
    lines.append(f"- RN >= 94% relational and non-relational ({name}): "
                 f"{100 * rn['relational']:.1f}% / {100 * rn['non_relational']:.1f}%: "
                 f"{'met' if ok else 'not met'}")
  if not rns:
    lines.append("- RN >= 94%: not measured")
  for name, rn in rns.items():
    if "relational" in by.get("cnn_mlp", {}):
      gap = rn["relational"] - by["cnn_mlp"]["relational"]
      lines.append(f"- RN ({name}) - CNN+MLP on relational questions: {100 * gap:+.1f} points "
                   "(the paper: 94% vs 63%)")
  for row in rows:
    if "margins_error" in row:
      lines.append(f"- {row['model']}: {row['margins_error']}")
    if "error" in row:
      lines.append(f"- {row['model']}: {row['error']}")
    elif row["stopped_by_budget"]:
      lines.append(f"- {row['model']}: stopped by its budget at step {row['steps']} "
                   "(the workdir resumes exactly with a longer budget)")
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", required=True)
  parser.add_argument("--work", default="/tmp/seqjax_vqa_gpu",
                      help="prepared data and workdirs (checkpoints stay here, not in --out)")
  parser.add_argument("--models", default="rn,cnn_mlp")
  parser.add_argument("--rn_seconds", type=float, default=300.0)
  parser.add_argument("--cnn_mlp_seconds", type=float, default=120.0)
  parser.add_argument("--san_seconds", type=float, default=120.0)
  parser.add_argument("--epochs", type=int, default=20)
  parser.add_argument("--eval_every", type=int, default=1000)
  parser.add_argument("--norm", default="",
                      help="the encoder's normalisation for every model (batch: the paper's); "
                           "empty: each config's own")
  parser.add_argument("--budget", default="",
                      help="training seconds per model, MODEL=S,...; default=S for the models "
                           "without one (over --rn_seconds etc.)")
  parser.add_argument("--steps", type=int, default=0,
                      help="train.num_steps for every model (0: each config's own)")
  parser.add_argument("--parallel", action="store_true",
                      help="train the models side by side (one process each, on the one GPU)")
  parser.add_argument("--dry-run", dest="dry_run", action="store_true")
  args = parser.parse_args(argv)
  try:
    args.budgets = parse_budgets(args.budget)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.norm and args.norm not in NORMS:
    print(f"error: --norm={args.norm!r}: choose from {list(NORMS)}", file=sys.stderr)
    return 2
  models = [m for m in args.models.split(",") if m]
  problem = check_models(models, args)
  if problem:
    print(f"error: {problem}", file=sys.stderr)
    return 2
  os.makedirs(args.out, exist_ok=True)
  env = _env(args.dry_run)
  with open(os.path.join(args.out, "env.json"), "w", encoding="utf-8") as f:
    json.dump(env, f, indent=1)
  if env["jax_backend"] != "gpu" and not args.dry_run:
    print(f"error: JAX sees no GPU (backend {env['jax_backend']!r}); refusing to report CPU "
          "numbers as GPU ones (--dry-run runs the tiny version on a CPU)", file=sys.stderr)
    return 2
  if args.dry_run:
    args.rn_seconds = min(args.rn_seconds, 60.0)
    args.cnn_mlp_seconds = min(args.cnn_mlp_seconds, 240.0)
    args.budgets = {m: min(s, 60.0 if m.startswith("rn") or m == "default" else 240.0)
                    for m, s in args.budgets.items()}
    args.eval_every = 3
  data_name = "sort_of_clevr_tiny" if args.dry_run else "sort_of_clevr"  # the oracle's
  data_dir = os.path.join(args.work, "tfds")
  prep_s = 0.0
  for name in dict.fromkeys(dataset_of(m, args.dry_run) for m in models):
    seconds = _prepare(name, data_dir)
    prep_s += seconds
    print(f"prepared {name} in {seconds:.0f} s", flush=True)
  from experiments.vqa import baselines  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  blind = {}  # the oracle (numpy, ~30 s) is scored while the models train
  oracle = threading.Thread(
      target=lambda: blind.update(baselines.colour_blind_scores(data_name, "test")))
  oracle.start()
  rows = []

  def done(row):
    oracle.join()
    args.blind = blind or None
    rows.append(row)
    rows.sort(key=lambda r: models.index(r["model"]))
    print(json.dumps({k: v for k, v in row.items() if k != "eval"}), flush=True)
    with open(os.path.join(args.out, "results.md"), "w", encoding="utf-8") as f:
      f.write(results_md(env, prep_s, rows, args))

  if args.parallel:
    from concurrent import futures  # pylint: disable=g-import-not-at-top
    with futures.ThreadPoolExecutor(len(models)) as pool:
      jobs = [pool.submit(run_model, m, args, data_dir) for m in models]
      for job in futures.as_completed(jobs):
        done(job.result())
  else:
    for model in models:
      done(run_model(model, args, data_dir))
  print(open(os.path.join(args.out, "results.md"), encoding="utf-8").read())
  return 0


if __name__ == "__main__":
  sys.exit(main())
