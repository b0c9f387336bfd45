"""ItalyPowerDemand (UCR archive): winter vs summer days from 24 hourly loads, 67 train /
1,029 test cases. Record: experiments/timeseries/README.md.
"""

from experiments.timeseries.configs import base


def get_config():
  c = base.classify_config()
  c.data.name = "italy_power_demand"
  c.data.valid_fraction = 0.0  # 67 training cases: all of them train; the last state is kept
  c.model.rnn.hidden_size, c.model.rnn.bidirectional, c.model.pool = 64, True, "last"
  c.train.batch_size, c.train.num_epochs = 16, 100
  return c
