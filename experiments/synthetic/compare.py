"""Trains every cell on a synthetic task at several lengths; writes the results table and the
gradient-norm plot.

    python -m experiments.synthetic.compare --task=adding --lengths=50,200,500 \
        --cells=rnn,irnn,lstm,gru,mingru,minlstm,lru --workdir=runs/synthetic_adding

For each (length, cell) it trains ``configs/base.py`` with the cell's variant (``VARIANTS``) for
``--steps`` steps in ``<workdir>/<task>_T<length>_<cell>`` (resumable), then writes
``<workdir>/results.md`` (solved or not, the step it was first solved at, the final metric,
wall time), ``<workdir>/grad_norms_T<length>.png`` (‖∂L/∂h_t‖ against the distance to the
loss for every cell, at initialisation and after training) and ``<workdir>/gates_T<length>.png``
(histograms of the LSTM forget gate and GRU update gate, with their mean and saturation).
A run that stops on a non-finite loss or gradient (the IRNN can explode) is reported as
diverged, not retried.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

from absl import app, flags, logging
import jax
import numpy as np

from experiments import common
from experiments.synthetic import task as synthetic_task
from experiments.synthetic.configs import base
from seqjax import cells as cells_lib
from seqjax import diagnostics
from seqjax.train import trainer
from seqjax.train.writer import read_metrics

# name -> (cell, cell options, learning rate or None for the config's, other model keys)
VARIANTS = {
    "rnn": ("rnn", {}, None, {}),
    "irnn": ("rnn", {"activation": "relu", "identity_init": True}, 1e-4, {}),  # Le et al. 2015
    "lstm": ("lstm", {"forget_bias": 1.0}, None, {}),
    "gru": ("gru", {}, None, {}),
    "mingru": ("mingru", {}, None, {}),
    "minlstm": ("minlstm", {}, None, {}),
    # The LRU as its paper's blocks use it: a nonlinear encoder to the hidden width first.
    "lru": ("lru", {"r_min": 0.9, "r_max": 0.999}, None, {"encoder_size": -1}),
}

FLAGS = flags.FLAGS


def run_config(task: str, length: int, variant: str, steps: int, hidden: int, seed: int,
               batch_size: int = 64):
  cell, options, lr, model_keys = VARIANTS[variant]
  c = base.get_config()
  c.seed = seed
  c.data.task, c.data.length = task, length
  c.model.rnn.cell, c.model.rnn.hidden_size = cell, hidden
  c.model.rnn.cell_options.update(options)
  for key, value in model_keys.items():
    c.model[key] = hidden if value == -1 else value  # -1: the hidden size
  c.model.rnn.backend = "associative" if cell in cells_lib.LINEAR_CELLS else "auto"
  c.train.num_steps, c.train.batch_size = steps, batch_size
  c.train.eval_every = max(steps // 20, 1)
  c.train.log_every = max(steps // 50, 1)
  c.train.checkpoint_every = max(steps // 5, 1)
  if lr is not None:
    c.optimizer.learning_rate = lr
  return c


# Why a cell has no curve: the probe perturbs the h_t each step emits, and the LRU's carry is a
# complex state behind a projection, not an h_t (its gradient w.r.t. the state is not computed).
NO_CURVE = "its carry is a complex state with no h_t to perturb"


def grad_norm_curve(config, params) -> np.ndarray:
  """Mean ‖∂L/∂h_t‖ over a held-out batch for every t; NaN for the LRU, whose carry has no
  ``h`` field to perturb."""
  batch = synthetic_task.SyntheticBatches(config, config.seed + synthetic_task.EVAL_SEED_OFFSET).make(0)
  if config.model.rnn.cell == "lru":
    return np.full(synthetic_task.model_inputs(config, batch).shape[1], np.nan)
  return np.asarray(synthetic_task.hidden_grad_curve(config, params, batch))


def read_divergence(workdir: str) -> dict | None:
  path = os.path.join(workdir, "diverged.json")
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def record_divergence(workdir: str, message: str, wall: float) -> dict:
  """Keeps a run that stopped on a non-finite loss or gradient as a result: reruns of the
  comparison report it instead of training it again."""
  match = re.search(r"at step (\d+)", message)
  record = {"message": message.split(";")[0], "step": int(match.group(1)) if match else None,
            "wall_s": round(wall, 1)}
  with open(os.path.join(workdir, "diverged.json"), "w", encoding="utf-8") as f:
    json.dump(record, f)
  return record


def first_wall_time(workdir: str, wall: float) -> float:
  """The wall time of the run that trained ``workdir``: recorded the first time, so that
  rerunning the comparison (finished runs only evaluate) keeps the training time."""
  path = os.path.join(workdir, "wall_time.json")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      return json.load(f)["wall_s"]
  with open(path, "w", encoding="utf-8") as f:
    json.dump({"wall_s": wall}, f)
  return wall


def gate_inputs(config, params) -> tuple:
  """``(cell, layer params, inputs)`` of the single recurrent layer on a held-out batch."""
  batch = synthetic_task.SyntheticBatches(config, config.seed + synthetic_task.EVAL_SEED_OFFSET).make(0)
  xs = synthetic_task.model_inputs(config, batch)
  if config.data.task == "copy":
    xs = jax.nn.one_hot(xs, config.data.num_symbols + 2)
  return cells_lib.get(config.model.rnn.cell), params["DeepRNN_0"]["layer_0"], xs


def gate_values(config, params) -> np.ndarray:
  """The LSTM forget gate or GRU update gate at every step of a held-out batch."""
  return np.asarray(diagnostics.gate_values(*gate_inputs(config, params)))


def progress(name: str):
  """A run's log, reduced to its progress (step and evaluation lines, resumes, stops) and
  prefixed with the run's name, so a long comparison shows where each run is."""
  shown = ("step ", "eval step", "resumed", "early stop", "learning rate")

  def log(line: str) -> None:
    if line.startswith(shown):
      print(f"[{name}] {line}", flush=True)
  return log


def first_solved(workdir: str, task: str) -> int | None:
  for row in read_metrics(workdir):
    if row.get("split") != "eval":
      continue
    if (task == "adding" and row["mse"] < synthetic_task.SOLVED_MSE) or (
        task == "copy" and row["recall_accuracy"] > 0.99):
      return int(row["step"])
  return None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  unknown = [c for c in FLAGS.cells if c not in VARIANTS]
  if unknown:
    sys.stderr.write(f"error: --cells has unknown variants {unknown}; choose from "
                     f"{list(VARIANTS)}\n")
    sys.exit(2)
  if "://" in FLAGS.workdir:  # each run is a workdir below it; the figures and table are local
    sys.stderr.write(f"error: --workdir={FLAGS.workdir}: the comparison writes its figures and "
                     "table with local file operations; give a local directory\n")
    sys.exit(2)
  os.makedirs(FLAGS.workdir, exist_ok=True)
  rows = []
  for length in (int(x) for x in FLAGS.lengths):
    curves, gates = {}, {}
    for variant in FLAGS.cells:
      config = run_config(FLAGS.task, length, variant, FLAGS.steps, FLAGS.hidden_size, FLAGS.seed,
                          FLAGS.batch_size)
      workdir = os.path.join(FLAGS.workdir, f"{FLAGS.task}_T{length}_{variant}")
      metric = "mse" if FLAGS.task == "adding" else "recall_accuracy"
      start = time.time()
      diverged = read_divergence(workdir)
      if diverged is None:
        try:
          result = trainer.train_and_evaluate(synthetic_task.TASK, config, workdir,
                                              log=progress(f"T={length} {variant}"))
        except FloatingPointError as e:  # IRNN and tanh RNN may explode: a result, not a crash
          diverged = record_divergence(workdir, str(e), time.time() - start)
      if diverged is not None:
        rows.append({"T": length, "cell": variant, metric: float("nan"), "best": float("nan"),
                     "solved_at": None, "wall_s": diverged["wall_s"],
                     "diverged": diverged["message"], "steps": diverged["step"]})
        print(json.dumps(rows[-1]), flush=True)
        continue
      wall = first_wall_time(workdir, time.time() - start)
      solved_at = first_solved(workdir, FLAGS.task)
      rows.append({"T": length, "cell": variant, metric: result["final"][metric],
                   "best": result["best"][metric], "solved_at": solved_at,
                   "wall_s": round(wall, 1), "steps": result["steps"]})
      print(json.dumps(rows[-1]), flush=True)
      run = trainer.restore(synthetic_task.TASK, workdir, which="last")
      # The parameters the run started from: the trainer's init key (seed's first half).
      init = synthetic_task.TASK.init_params(
          run.model, jax.random.split(jax.random.PRNGKey(config.seed))[0], config, {})
      trained = run.params
      curves[f"{variant} (init)"] = grad_norm_curve(config, init)
      curves[f"{variant} (trained)"] = grad_norm_curve(config, trained)
      if config.model.rnn.cell in ("lstm", "gru"):
        kind = "forget gate f" if config.model.rnn.cell == "lstm" else "update gate z"
        for stage, p in (("init", init), ("trained", trained)):
          values = gate_values(config, p)
          stats = diagnostics.gate_statistics(*gate_inputs(config, p))
          gates[f"{variant} {kind} ({stage})\nmean {stats['mean']:.2f}, "
                f"{stats['saturated']:.0%} saturated"] = values
    if gates:
      diagnostics.plot_gate_histograms(
          gates, os.path.join(FLAGS.workdir, f"gates_T{length}.png"),
          title=f"{FLAGS.task}, T={length}: gate values on a held-out batch")
    missing = sorted({k.split(" (")[0] for k, v in curves.items() if not np.all(np.isfinite(v))})
    for name in missing:  # said, not dropped silently
      print(f"T={length}: {name}: no gradient-norm curve ({NO_CURVE})", flush=True)
    curves = {k: v for k, v in curves.items() if np.all(np.isfinite(v))}
    title = f"{FLAGS.task}, T={length}: gradient of the loss w.r.t. h_t"
    if missing:
      title += f"\nnot shown: {', '.join(missing)} ({NO_CURVE})"
    diagnostics.plot_gradient_norms(
        curves, os.path.join(FLAGS.workdir, f"grad_norms_T{length}.png"), title=title)
  write_table(rows, os.path.join(FLAGS.workdir, "results.md"), FLAGS.task)


def write_table(rows, path, task):
  metric = "MSE (< 0.01 solves; predicting 1 scores 0.167)" if task == "adding" else (
      "recall accuracy (chance 0.125)")
  key = "mse" if task == "adding" else "recall_accuracy"
  lines = [f"| T | cell | final {metric} | best | first solved at step | wall |",
           "|---|---|---|---|---|---|"]
  for r in rows:
    if r.get("diverged"):
      lines.append(f"| {r['T']} | {r['cell']} | diverged: {r['diverged']} | - | not solved | "
                   f"{r['wall_s'] / 60:.1f} min |")
      continue
    solved = r["solved_at"] if r["solved_at"] is not None else "not solved"
    lines.append(f"| {r['T']} | {r['cell']} | {r[key]:.4f} | {r['best']:.4f} | {solved} | "
                 f"{r['wall_s'] / 60:.1f} min |")
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")


def define_flags() -> None:
  flags.DEFINE_enum("task", "adding", ["adding", "copy"], "The synthetic task.")
  flags.DEFINE_list("lengths", ["50", "200", "500"], "Sequence lengths T.")
  flags.DEFINE_list("cells", list(VARIANTS), f"Cell variants, from {list(VARIANTS)}.")
  flags.DEFINE_integer("steps", 5000, "Training steps per run.")
  flags.DEFINE_integer("hidden_size", 128, "Hidden units of every cell.")
  flags.DEFINE_integer("batch_size", 64, "Training batch size of every run.")
  flags.DEFINE_integer("seed", 0, "Seed of every run.")
  flags.DEFINE_string("workdir", None, "Where the runs, the table and the plots go.")
  flags.mark_flags_as_required(["workdir"])


if __name__ == "__main__":
  define_flags()
  common.run(main)
