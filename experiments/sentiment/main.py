"""Trains a sentiment classifier.

    python -m experiments.sentiment.main --config=experiments/sentiment/configs/sst2_bilstm.py \
        --workdir=/tmp/sst2 [--config.data.manual_dir=../shared/data/sst2]

Any config value can be overridden, e.g. ``--config.model.pooling=max``. A workdir that holds
a checkpoint is resumed. ``experiments.sentiment.predict`` classifies new text.
"""

from experiments import common
from experiments.sentiment.task import TASK

common.define_train_flags("sentiment")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
