"""``ptb_vae_freebits`` without word dropout (keep rate 1): the decoder reads every word, as the
RNN LM's does, and free bits (1/16 nat per dimension) keep the code from closing. The standard-
setting target (within 5% of the RNN LM with a KL of at least 1 nat) tested with the decoder the
RNN LM has. Measured: see experiments/vae/README.md.

    python -m experiments.vae.main --config=experiments/vae/configs/ptb_vae_freebits_keepall.py \\
        --workdir=/tmp/ptb_vae_freebits_keepall --config.data.manual_dir=../shared/data/ptb
"""

from experiments.vae.configs import ptb_vae_freebits


def get_config():
  c = ptb_vae_freebits.get_config()
  c.model.word_keep = 1.0
  return c
