"""Trains GRU4Rec for session-based recommendation and compares it with POP and Item-KNN.

    python -m experiments.recsys.main --config=experiments/recsys/configs/diginetica_gru4rec.py \
        --workdir=/tmp/gru4rec --config.data.manual_dir=../shared/data/diginetica_sample

For the full DIGINETICA log set ``--config.data.name=diginetica`` and a directory holding
``train-item-views.csv``; for YOOCHOOSE ``--config.data.name=yoochoose --config.data.test_days=1``
and ``yoochoose-clicks.dat``. A workdir that holds a checkpoint is resumed.
"""

from experiments import common
from experiments.recsys.task import TASK

common.define_train_flags("recsys")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
