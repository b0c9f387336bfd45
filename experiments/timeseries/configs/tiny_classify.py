"""A seconds-long classification config for tests and smoke runs (generated .ts files)."""

from experiments.timeseries.configs import base


def get_config():
  c = base.classify_config()
  c.data.name = "japanese_vowels"
  c.data.valid_fraction = 0.2
  c.model.rnn.hidden_size = 16
  c.train.num_steps, c.train.batch_size = 60, 8
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 20, 30, 30
  return c
