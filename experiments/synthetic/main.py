"""Trains a recurrent model on a synthetic long-dependency task (no data to download).

    python -m experiments.synthetic.main --config=experiments/synthetic/configs/tiny.py \
        --workdir=/tmp/adding [--config.data.length=200 --config.model.rnn.cell=gru]
"""

from experiments import common
from experiments.synthetic.task import TASK

common.define_train_flags("synthetic")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
