"""BasicMotions (UEA archive): 4 activities from 6 watch channels, 40 train / 40 test cases
of 100 steps. Record: experiments/timeseries/README.md.
"""

from experiments.timeseries.configs import base


def get_config():
  c = base.classify_config()
  c.data.name = "basic_motions"
  c.data.valid_fraction = 0.0  # 10 cases per class: all of them train; the last state is kept
  c.model.rnn.hidden_size, c.model.rnn.bidirectional, c.model.pool = 64, True, "last"
  c.train.batch_size, c.train.num_epochs = 8, 100
  return c
