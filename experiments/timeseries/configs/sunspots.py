"""Yearly sunspot numbers (1700-2008): forecast 11 years (one solar cycle) ahead.

Test: the last 44 years, validation the 44 before; rolling origins, context 44 years.
Seq-to-one LSTM (recursive for 11 steps) trained by squared error; chosen among 13 variants
(direct/recursive/seq2seq, Gaussian/MSE, dropout, GRU, context, scaling, learning rate) by
validation MASE. Record: experiments/timeseries/README.md.
"""

from experiments.timeseries.configs import base


def get_config():
  c = base.forecast_config()
  c.data.name = "sunspots"
  c.data.test_size, c.data.valid_size, c.data.context, c.data.horizon = 44, 44, 44, 11
  c.data.scaling = "global"
  c.model.mode, c.model.head = "recursive", "mse"
  c.model.rnn.hidden_size = 64
  c.train.num_epochs = 150
  c.baselines.arima_max_p = 10  # the AR(9) of the literature is inside the search
  c.train.eval_every = 30
  return c
