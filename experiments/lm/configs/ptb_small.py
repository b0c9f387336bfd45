"""Zaremba et al. (2014) "small": 2x200 LSTM, no dropout, 13 epochs; published test ppl 114.5.

Reproduction record: see experiments/lm/README.md (filled in from a measured run).

    python -m experiments.lm.main --config=experiments/lm/configs/ptb_small.py \
        --workdir=/tmp/ptb_small --config.data.manual_dir=../shared/data/ptb
"""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()  # the base values are exactly the "small" configuration
  c.data.name, c.data.level = "ptb_word", "word"
  c.model.hidden_size, c.model.num_layers, c.model.init_scale = 200, 2, 0.1
  c.model.dropout_rate = 0.0
  c.train.batch_size, c.train.bptt, c.train.num_epochs = 20, 35, 13
  c.optimizer.learning_rate, c.optimizer.clip_norm = 1.0, 5.0
  c.optimizer.decay, c.optimizer.decay_after = 0.5, 4
  return c
