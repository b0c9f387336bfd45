"""Trains a recurrent language model.

    python -m experiments.lm.main --config=experiments/lm/configs/shakespeare_char.py \
        --workdir=/tmp/shakespeare [--config.data.manual_dir=../shared/data/tinyshakespeare]

Any config value can be overridden, e.g. ``--config.model.rnn.hidden_size=650``. A workdir that
holds a checkpoint is resumed.
"""

from experiments import common
from experiments.lm.task import TASK

common.define_train_flags("LM")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
