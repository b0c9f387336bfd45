"""Zaremba et al. (2014) "medium": 2x650 LSTM, dropout 0.5, 39 epochs; published test ppl 82.7.

Measured: 300 steps train (valid ppl 509.5 at epoch 0.23) at ~1.25 steps/s on 2 shared CPU cores;
the full 39 epochs wait for a GPU.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_medium.py \
        --workdir=/tmp/ptb_medium --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import ptb_small


def get_config():
  c = ptb_small.get_config()
  c.model.rnn.hidden_size, c.model.rnn.init_scale = 650, 0.05
  c.model.dropout_rate = c.model.rnn.dropout_rate = 0.5
  c.train.num_epochs = 39
  c.optimizer.decay, c.optimizer.decay_after = 1 / 1.2, 6  # "a factor of 1.2" per epoch after 6
  return c
