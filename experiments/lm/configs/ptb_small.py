"""Zaremba et al. (2014) "small": 2x200 LSTM, no dropout, 13 epochs; published test ppl 114.5.

Measured: test ppl 114.7, valid 117.6 (best checkpoint, epoch 6 of 13), 3,241 s wall on 2 CPU
cores (Intel Xeon, jax 0.10.2, float32), commit 91a925d.

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_small.py \
        --workdir=/tmp/ptb_small --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()  # the base values are exactly the "small" configuration
  c.data.name, c.data.level = "ptb_word", "word"
  c.model.rnn.hidden_size, c.model.rnn.num_layers, c.model.rnn.init_scale = 200, 2, 0.1
  c.model.dropout_rate = c.model.rnn.dropout_rate = 0.0
  c.train.batch_size, c.train.bptt, c.train.num_epochs = 20, 35, 13
  c.optimizer.learning_rate, c.optimizer.clip_norm = 1.0, 5.0
  c.optimizer.decay, c.optimizer.decay_after = 0.5, 4
  return c
