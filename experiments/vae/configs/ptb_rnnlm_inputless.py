"""Bowman et al. (2016) Table 2, inputless decoder: the sentence RNN LM that never sees a word
(word keep rate 0), so it can model only lengths and word frequencies by position (paper: test
NLL 135, PPL > 600). 2 epochs: it has little to learn.

Measured: test NLL 140.1, PPL 598.10 (validation 642.41); 1,886 s on one core of a 2-core
Intel Xeon.

    python -m experiments.vae.main --config=experiments/vae/configs/ptb_rnnlm_inputless.py \
        --workdir=/tmp/ptb_rnnlm_inputless --config.data.manual_dir=../shared/data/ptb
"""

from experiments.vae.configs import ptb_rnnlm


def get_config():
  c = ptb_rnnlm.get_config()
  c.model.word_keep = 0.0
  c.train.num_epochs = 2
  return c
