"""Zaremba et al. (2014) "large": 2x1500 LSTM, dropout 0.65, 55 epochs; published test ppl 78.4.

(keep_prob 0.35 in the TF tutorial, i.e. dropout 0.65.)

Measured: 200 steps train (valid ppl 775.9 at epoch 0.15), 993 s with validation on 2 shared CPU
cores; the full 55 epochs wait for a GPU.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_large.py \
        --workdir=/tmp/ptb_large --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import ptb_small


def get_config():
  c = ptb_small.get_config()
  c.model.rnn.hidden_size, c.model.rnn.init_scale = 1500, 0.04
  c.model.dropout_rate = c.model.rnn.dropout_rate = 0.65
  c.train.num_epochs = 55
  c.optimizer.clip_norm = 10.0
  c.optimizer.decay, c.optimizer.decay_after = 1 / 1.15, 14
  return c
