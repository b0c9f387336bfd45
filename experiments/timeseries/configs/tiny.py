"""A seconds-long forecasting config for tests and smoke runs (a generated series in the
sunspots CSV format, or the real one)."""

from experiments.timeseries.configs import base


def get_config():
  c = base.forecast_config()
  c.data.name = "sunspots"
  c.data.test_size, c.data.valid_size, c.data.context, c.data.horizon = 12, 12, 12, 4
  c.data.season = 4
  c.model.rnn.hidden_size, c.model.input_size = 16, 8
  c.train.num_steps, c.train.batch_size = 60, 16
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 20, 30, 30
  c.baselines.arima_max_p, c.baselines.arima_max_q = 1, 1
  c.report.plot = False
  return c
