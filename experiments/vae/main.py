"""Trains a sentence VAE (Bowman et al. 2016) or its sentence-level RNN LM baseline.

    python -m experiments.vae.main --config=experiments/vae/configs/ptb_vae.py \
        --workdir=/tmp/ptb_vae --config.data.manual_dir=../shared/data/ptb

Any config value can be overridden, e.g. ``--config.kl.anneal=linear``. A workdir that holds a
checkpoint is resumed. ``experiments.vae.generate`` samples, interpolates and imputes with a
trained workdir.
"""

from experiments import common
from experiments.vae.task import TASK

common.define_train_flags("sentence VAE")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
