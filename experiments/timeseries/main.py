"""Trains a time-series model: a forecaster (``config.task="forecast"``) or a series
classifier (``"classify"``), and scores it beside the classical baselines.

    pip install -e ".[timeseries]"
    python -m experiments.timeseries.main --config=experiments/timeseries/configs/sunspots.py \\
        --workdir=/tmp/sunspots

A workdir that holds a checkpoint is resumed. The data ships with statsmodels and sktime
(``data.manual_dir`` reads the same files from a directory instead).
"""

from absl import flags

from experiments import common
from experiments.timeseries.task import TASKS

common.define_train_flags("timeseries")
common.document_config(*TASKS.values())


def main(argv):
  common.check_or_exit(lambda: flags.FLAGS.config.get("task"))  # a missing --config file
  config = flags.FLAGS.config
  task = TASKS.get(config.get("task"))
  if task is None:
    common.fail(f"config.task must be one of {sorted(TASKS)}; got {config.get('task')!r}")
  return common.train_main(task)(argv)


main.guard_errors = ()

if __name__ == "__main__":
  common.run(main)
