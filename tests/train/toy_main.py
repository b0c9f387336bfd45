"""The toy regression task of ``test_trainer`` as a real command line, run through the same
``experiments.common`` entry point as every experiment, for the fault-injection tests
(signals, a second process, files corrupted between runs).

    python -m tests.train.toy_main --workdir=W [--config.train.num_steps=40]

``TOY_EVAL_MARKER=PATH``: every evaluation creates ``PATH.<step>`` when it starts and then
sleeps ``TOY_EVAL_SLEEP`` seconds (default 0), so that a test can send a signal while an
evaluation at a checkpoint step is running, or start a second process while this one holds
the workdir.
"""

import os
import time

from absl import flags
from ml_collections import config_flags

from experiments import common
from tests.train.test_trainer import ToyTask


class SlowToy(ToyTask):

  def evaluate(self, run, params, split):
    marker = os.environ.get("TOY_EVAL_MARKER")
    if marker and not run.final:
      step = len([m for m in os.listdir(os.path.dirname(marker))
                  if m.startswith(os.path.basename(marker) + ".")])
      with open(f"{marker}.{step}", "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))
      time.sleep(float(os.environ.get("TOY_EVAL_SLEEP", "0")))
    return super().evaluate(run, params, split)


TASK = SlowToy()

if __name__ == "__main__":  # flags only when run as a program (pytest imports the module)
  config_flags.DEFINE_config_dict("config", TASK.schema(), "The toy config.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
  flags.DEFINE_bool("allow_config_change", False, "As the experiments' flag.")
  flags.mark_flags_as_required(["workdir"])
  common.run(common.train_main(TASK))
