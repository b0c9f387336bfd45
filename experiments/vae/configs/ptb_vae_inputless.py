"""Bowman et al. (2016) Table 2, inputless decoder: the sentence VAE whose decoder never sees a
word (word keep rate 0), so everything it knows about a sentence comes through z (paper: test
NLL 125 with KL 15, PPL 380, against > 600 for the inputless RNN LM). 4 epochs.

Measured: test NLL 135.7 / PPL 487.89 (importance-sampled; ELBO 136.2 / 498.72), KL 3.05
nats, 3 active units; 2,806 s on one core of a 2-core Intel Xeon.

    python -m experiments.vae.main --config=experiments/vae/configs/ptb_vae_inputless.py \
        --workdir=/tmp/ptb_vae_inputless --config.data.manual_dir=../shared/data/ptb
"""

from experiments.vae.configs import ptb_vae


def get_config():
  c = ptb_vae.get_config()
  c.model.word_keep = 0.0
  c.train.num_epochs = 4
  return c
