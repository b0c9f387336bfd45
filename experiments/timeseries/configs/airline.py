"""Box & Jenkins' airline passengers (monthly 1949-1960): forecast 12 months ahead.

Test: the last 24 months, validation the 24 before; context 24; log scale (multiplicative
seasonality). Record: experiments/timeseries/README.md.
"""

from experiments.timeseries.configs import base


def get_config():
  c = base.forecast_config()
  c.data.name = "airline"
  c.data.test_size, c.data.valid_size, c.data.context, c.data.horizon = 24, 24, 24, 12
  c.data.log, c.data.scaling = True, "last"
  c.model.mode, c.model.head = "direct", "gaussian"
  c.baselines.arima_d, c.baselines.seasonal_order = 1, (0, 1, 1)
  c.train.num_epochs = 300
  c.train.eval_every = 30
  return c
