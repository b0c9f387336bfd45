"""Mauna Loa CO2 (monthly means 1958-2001): forecast 12 months ahead.

Test: the last 60 months, validation the 60 before; context 36 months; the window's last value
is subtracted (the trend continues past the training range). Record:
experiments/timeseries/README.md.
"""

from experiments.timeseries.configs import base


def get_config():
  c = base.forecast_config()
  c.data.name = "co2"
  c.data.test_size, c.data.valid_size, c.data.context, c.data.horizon = 60, 60, 36, 12
  c.data.scaling = "last"
  c.model.mode, c.model.head = "direct", "gaussian"
  c.baselines.arima_d, c.baselines.seasonal_order = 1, (0, 1, 1)
  c.train.num_epochs = 100
  c.train.eval_every = 30
  return c
