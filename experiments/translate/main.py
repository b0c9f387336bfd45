"""Trains an encoder–decoder translation model.

    python -m experiments.translate.main \
        --config=experiments/translate/configs/multi30k_gru_attn.py \
        --workdir=/tmp/multi30k [--config.data.manual_dir=../shared/data/multi30k]

Any config value can be overridden, e.g. ``--config.data.source_lang=en
--config.data.target_lang=de``. A workdir that holds a checkpoint is resumed.
``experiments.translate.translate`` translates new sentences with a trained workdir.
"""

from experiments import common
from experiments.translate.task import TASK

common.define_train_flags("translation")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
