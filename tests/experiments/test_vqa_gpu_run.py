"""The one-shot Sort-of-CLEVR GPU run (``experiments/vqa/gpu_run.sh``) end to end on a CPU as a
dry run, so it is ready the first time a GPU is lent: the data is prepared, the RN is stopped by
its wall-clock budget with a real SIGTERM (and its best checkpoint still scored), the CNN+MLP
runs to its last step, and ``results.md`` names both. Without ``--dry-run`` a CPU is refused."""

import json
import os
import pathlib
import subprocess
import sys
import warnings

import pytest

from experiments.vqa import baselines

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_script(out, work, *args):
  env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu"}
  return subprocess.run(["bash", "experiments/vqa/gpu_run.sh", "--work", str(work), *args],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow  # ~2 min: two trainings and two evaluations in subprocesses
def test_the_dry_run_stops_the_rn_by_its_budget_and_scores_both(tmp_path):
  proc = run_script(tmp_path / "out", tmp_path / "work", "--dry-run")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  out = tmp_path / "out"
  assert sorted(os.listdir(out)) == ["cnn_mlp", "env.json", "results.md", "rn"]
  for model in ("rn", "cnn_mlp"):
    names = set(os.listdir(out / model))
    assert {"eval_best.json", "metrics.jsonl", "config.json", "curves.png", "train.log",
            "eval.log"} <= names, (model, names)
    assert not any(n.startswith("checkpoint") for n in names)  # checkpoints stay in --work
    assert ({"margins.json", "margins.txt"} <= names) == (model == "rn"), (model, names)
  rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
  rn, cnn = rows
  assert rn["stopped_by_budget"] and rn["train_rc"] == 143 and rn["steps"] > 6, rn
  assert not cnn["stopped_by_budget"] and cnn["train_rc"] == 0 and cnn["steps"] == 6, cnn
  config = json.loads((out / "rn" / "config.json").read_text())
  assert config["data"]["name"] == "sort_of_clevr_tiny"
  results = (out / "results.md").read_text()
  assert results.startswith("# Sort-of-CLEVR GPU run (DRY RUN on CPU")
  assert "| rn | " in results and "| cnn_mlp | " in results
  assert f"- rn: stopped by its budget at step {rn['steps']}" in results
  assert "RN >= 94% relational and non-relational (rn):" in results
  blind = baselines.colour_blind_scores("sort_of_clevr_tiny", "test")
  assert (f"| colour-blind oracle (no training; `experiments.vqa.baselines`) |  |  |  |  | "
          f"{100 * blind['accuracy']:.1f}% | {100 * blind['relational']:.1f}% |") in results
  scored = json.loads((out / "rn" / "eval_best.json").read_text())
  assert f"| rn | {rn['steps']} |" in results and f"{100 * scored['test']['accuracy']:.1f}%" \
      in results.split("| rn |")[1].split("\n")[0]  # the test split's accuracy, not validation's
  # The RN's relational questions by gap: margins on its best checkpoint, in results.md too.
  margins = json.loads((out / "rn" / "margins.json").read_text())
  assert margins["split"] == "test" and margins["step"] == scored["step"]
  every = {r["subtype"]: r for r in margins["rows"] if r["lo"] == 0 and r["hi"] is None}
  section = results.split("## Relational questions by the gap")[1].split("## Targets")[0]
  assert section.count("| rn | ") == 1 and "| cnn_mlp |" not in section
  cells = section.split("| rn | ")[1].split("\n")[0].split(" | ")
  assert cells[0] == f"{100 * every['closest']['accuracy']:.1f}%"
  assert cells[3] == f"{100 * every['furthest']['accuracy']:.1f}%"
  # A second run resumes the kept workdirs: the RN goes on from its saved step.
  again = run_script(tmp_path / "out2", tmp_path / "work", "--dry-run", "--models", "rn")
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
  rn2 = json.loads([line for line in again.stdout.splitlines() if line.startswith("{")][0])
  assert rn2["steps"] > rn["steps"], (rn, rn2)
  assert rn2["start_step"] == rn["steps"]  # s/step counts this run's steps only
  assert "resum" in (tmp_path / "out2" / "rn" / "train.log").read_text().lower()


def test_without_dry_run_a_cpu_is_refused(tmp_path):
  proc = run_script(tmp_path / "out", tmp_path / "work")
  assert proc.returncode == 2
  assert "JAX sees no GPU (backend 'cpu'); refusing to report CPU numbers as GPU ones" \
      in proc.stderr
  assert json.loads((tmp_path / "out" / "env.json").read_text())["jax_backend"] == "cpu"
  proc = run_script(tmp_path / "out", tmp_path / "work", "--dry-run", "--models", "rn,bn")
  assert proc.returncode == 2 and "--models: unknown ['bn']" in proc.stderr
  proc = run_script(tmp_path / "out", tmp_path / "work", "--dry-run", "--norm", "group")
  assert proc.returncode == 2 and "--norm='group': choose from ['none', 'batch']" in proc.stderr


def test_results_md_puts_the_colour_blind_oracle_beside_the_models():
  from experiments.vqa import gpu_run  # pylint: disable=g-import-not-at-top
  blind = {"accuracy": 0.697, "relational": 0.765, "non_relational": 0.629,
           **{f"acc_{s}": 0.5 + k / 100 for k, s in enumerate(gpu_run.SUBTYPES)}}
  args = type("Args", (), {"dry_run": False, "norm": "batch", "blind": blind})()
  env = {"gpu": "H200", "versions": {"jax": "0.x"}, "jax_backend": "gpu", "commit": "abc"}
  md = gpu_run.results_md(env, 20.0, [], args)
  row = [line for line in md.splitlines() if line.startswith("| colour-blind oracle")][0]
  header = [line for line in md.splitlines() if line.startswith("| model |")][0]
  assert row.count("|") == header.count("|")
  cells = [c.strip() for c in row.strip("|").split("|")]
  assert cells[5:8] == ["69.7%", "76.5%", "62.9%"] and cells[8:] == [
      "50.0%", "51.0%", "52.0%", "53.0%", "54.0%", "55.0%"]
  assert "Encoder normalisation: batch." in md and "- RN >= 94%: not measured" in md


def test_budgets_parse_and_fall_back_and_a_bad_one_is_named():
  from experiments.vqa import gpu_run  # pylint: disable=g-import-not-at-top
  budgets = gpu_run.parse_budgets("rn_bn=400,default=250")
  assert budgets == {"rn_bn": 400.0, "default": 250.0}
  args = type("Args", (), {"budgets": budgets, "rn_seconds": 300.0, "cnn_mlp_seconds": 120.0,
                           "san_seconds": 90.0})()
  assert gpu_run.budget_of("rn_bn", args) == 400.0  # named
  assert gpu_run.budget_of("cnn_mlp", args) == 120.0  # its own flag
  assert gpu_run.budget_of("rn_bn_g256", args) == 250.0  # the default
  args.budgets = {}
  assert gpu_run.budget_of("rn_bn_g256", args) == 300.0  # --rn_seconds
  for bad in ("rn_bn", "rn_bn=0", "rn_bn=x", "mlp=10"):
    with pytest.raises(ValueError, match=f"--budget: {bad!r} is not MODEL=SECONDS"):
      gpu_run.parse_budgets(bad)


def test_bad_model_lists_budgets_and_steps_are_named():
  from experiments.vqa import gpu_run  # pylint: disable=g-import-not-at-top
  args = lambda budgets={}, steps=0: type("Args", (), {"budgets": budgets, "steps": steps})()
  assert gpu_run.check_models(["rn_bn", "cnn_mlp"], args({"rn_bn": 9.0, "default": 5.0})) == ""
  assert "--models: unknown ['bn']" in gpu_run.check_models(["rn", "bn"], args())
  assert gpu_run.check_models(["rn_bn", "rn_bn"], args()) == (
      "--models: ['rn_bn'] named twice (one workdir each)")
  assert gpu_run.check_models(["rn_bn"], args({"rn": 9.0})) == (
      "--budget: ['rn'] not among --models=rn_bn")
  assert gpu_run.check_models(["rn_bn"], args(steps=-1)) == (
      "--steps=-1: must be >= 0 (0: each config's own)")


def test_results_md_times_only_this_run_s_steps_of_a_resumed_run():
  from experiments.vqa import gpu_run  # pylint: disable=g-import-not-at-top
  args = type("Args", (), {"dry_run": False, "norm": "", "blind": None, "parallel": True})()
  env = {"gpu": "H200", "versions": {"jax": "0.x"}, "jax_backend": "gpu", "commit": "abc",
         "tree_differs_from_commit": True}
  test = {"accuracy": 0.95, "relational": 0.92, "non_relational": 0.995,
          **{f"acc_{s}": 0.9 for s in gpu_run.SUBTYPES}}
  rows = [{"model": "rn_bn", "train_s": 300.0, "steps": 160_000, "start_step": 100_000,
           "stopped_by_budget": True, "validation": [(160_000, 0.96)], "eval": {"test": test}}]
  md = gpu_run.results_md(env, 1.0, rows, args)
  row = [line for line in md.splitlines() if line.startswith("| rn_bn |")][0]
  assert row.startswith("| rn_bn | 160000 | 300 | 0.005 | 96.0% | 95.0% | 92.0% | 99.5% |")
  assert "commit abc with local changes;" in md
  assert "Encoder normalisation: each config's own; the models trained side by side" in md
  assert "- RN >= 94% relational and non-relational (rn_bn): 92.0% / 99.5%: not met" in md


@pytest.mark.slow  # ~1 min: two trainings side by side and two evaluations
def test_parallel_runs_the_models_side_by_side_with_their_own_budgets(tmp_path):
  proc = run_script(tmp_path / "out", tmp_path / "work", "--dry-run", "--parallel",
                    "--models", "rn_bn,cnn_mlp", "--budget", "rn_bn=30")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  rows = {r["model"]: r for r in (json.loads(line) for line in proc.stdout.splitlines()
                                  if line.startswith("{"))}
  assert rows["rn_bn"]["budget_s"] == 30.0 and rows["rn_bn"]["stopped_by_budget"]
  assert rows["cnn_mlp"]["train_rc"] == 0 and rows["cnn_mlp"]["steps"] == 6
  config = json.loads((tmp_path / "out" / "rn_bn" / "config.json").read_text())
  assert config["model"]["norm"] == "batch" and config["train"]["questions_per_image"] == 1
  results = (tmp_path / "out" / "results.md").read_text()
  assert "the models trained side by side (--parallel)" in results
  assert results.index("| rn_bn |") < results.index("| cnn_mlp |")  # the order asked for


@pytest.mark.parametrize("model", sorted(__import__("experiments.vqa.gpu_run",
                                                    fromlist=["CONFIGS"]).CONFIGS))
def test_every_gpu_model_s_config_and_overrides_validate(model, monkeypatch):
  """What the GPU run would train, checked here: each model's config file with its override
  flags (the paper's g, the cosine schedule) parses and passes the task's and the loop's
  checks, and the overrides took effect."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from experiments.vqa import gpu_run, task  # pylint: disable=g-import-not-at-top
  from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
  path, extra = gpu_run.CONFIGS[model]
  values = flags.FlagValues()
  with warnings.catch_warnings():  # ml_collections loads the file with load_module()
    warnings.simplefilter("ignore", DeprecationWarning)
    config_flags.DEFINE_config_file("config", default=str(REPO / path), flag_values=values)
    dataset = gpu_run.dataset_of(model, dry_run=False)
    argv = ["gpu_run", f"--config={REPO / path}", *extra, f"--config.data.name={dataset}"]
    monkeypatch.setattr(sys, "argv", argv)  # ml_collections reads the overrides from argv
    values(argv)
    config = values.config
  task.TASK.check(config)
  trainer.check_loop(config.train, config.get("optimizer"))
  assert config.data.name == dataset
  assert dataset == ("sort_of_clevr_49k" if model.endswith("_49k") else "sort_of_clevr")
  assert gpu_run.dataset_of(model, dry_run=True) == "sort_of_clevr_tiny"
  if gpu_run.G256 in extra or model == "rn_bn_wide":
    assert tuple(config.model.g_sizes) == (256,) * 4
  if model.startswith("rn_bn_wide"):
    assert tuple(config.model.channels) == (32, 64, 128, 256)
  if model == "rn_bn_wide_cos":
    assert (config.optimizer.schedule, config.optimizer.total_steps) == ("warmup_cosine", 130000)
  if model == "rn_bn_text":
    assert config.model.question == "text"


def test_margin_cells_read_every_gap_wide_gaps_and_near_ties_of_the_other_shape():
  from experiments.vqa import gpu_run  # pylint: disable=g-import-not-at-top
  row = lambda subtype, lo, hi, acc, other, acc_other: {
      "subtype": subtype, "lo": lo, "hi": hi, "questions": 10, "accuracy": acc,
      "other_shape": other, "accuracy_other_shape": acc_other}
  rows = [row("closest", 0.0, 1.0, 0.5, 4, 0.25), row("closest", 1.0, 2.0, 0.6, 6, 0.5),
          row("closest", 2.0, 4.0, 0.7, 5, 0.6), row("closest", 8.0, None, 0.9, 5, 0.8),
          row("closest", 0.0, None, 0.8, 20, 0.6),
          row("furthest", 0.0, 1.0, 0.5, 0, float("nan")), row("furthest", 1.0, 2.0, 0.5, 0,
                                                                float("nan")),
          row("furthest", 8.0, None, float("nan"), 0, float("nan")),
          row("furthest", 0.0, None, 0.75, 0, float("nan"))]
  # closest near ties: (4 * 0.25 + 6 * 0.5) / 10 = 40%; furthest has none, and no wide gaps
  assert gpu_run._margin_cells(rows) == ["80.0%", "90.0%", "40.0%", "75.0%", "-", "-"]
