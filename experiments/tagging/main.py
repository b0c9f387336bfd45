"""Trains a part-of-speech tagger.

    python -m experiments.tagging.main --config=experiments/tagging/configs/ewt_bilstm_char.py \
        --workdir=/tmp/ewt [--config.data.manual_dir=../shared/data/ud_english_ewt]

Any config value can be overridden, e.g. ``--config.data.tag_field=xpos``. A workdir that holds
a checkpoint is resumed. ``experiments.tagging.tag`` tags new sentences.
"""

from experiments import common
from experiments.tagging.task import TASK

common.define_train_flags("tagging")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
