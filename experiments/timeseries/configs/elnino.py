"""Monthly Nino 1+2 sea surface temperature (1950-2010): forecast 12 months ahead.

Test: the last 72 months, validation the 72 before; context 36 months. Record:
experiments/timeseries/README.md.
"""

from experiments.timeseries.configs import base


def get_config():
  c = base.forecast_config()
  c.data.name = "elnino"
  c.data.test_size, c.data.valid_size, c.data.context, c.data.horizon = 72, 72, 36, 12
  c.data.scaling = "global"
  c.model.mode, c.model.head = "direct", "gaussian"
  c.baselines.seasonal_order = (1, 0, 0)
  c.train.num_epochs = 100
  c.train.eval_every = 30
  return c
