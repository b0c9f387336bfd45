"""Every config file of every experiment passes its task's schema and value checks."""

import importlib
import pathlib

import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[2] / "experiments"
CONFIGS = sorted((p.parent.parent.name, p.stem)
                 for p in EXPERIMENTS.glob("*/configs/*.py") if p.stem != "__init__")


def test_every_experiment_has_configs():
  assert {task for task, _ in CONFIGS} == {"lm", "sentiment", "translate", "synthetic",
                                           "tagging", "word2vec", "recsys", "timeseries", "vae",
                                           "vqa", "caption"}


@pytest.mark.parametrize("task,name", CONFIGS)
def test_config_validates(task, name):
  config = importlib.import_module(f"experiments.{task}.configs.{name}").get_config()
  module = importlib.import_module(f"experiments.{task}.task")
  # timeseries: one experiment, two tasks (config.task picks forecasting or classification)
  (module.TASKS[config.task] if hasattr(module, "TASKS") else module.TASK).check(config)
  from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
  trainer.check_loop(config.train, config.get("optimizer"))  # e.g. no plateau with a schedule
  if "parallel" not in config:  # word2vec (sparse row updates), recsys and the small
    assert task in ("word2vec", "recsys", "timeseries")  # time-series sets train on one device
    return
  # Every device by default; the tiny test configs use one.
  assert config.parallel.data == (1 if name == "tiny" and task != "synthetic" else -1)
  assert config.parallel.model == 1
