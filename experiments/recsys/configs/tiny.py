"""A seconds-long config for tests and smoke runs (generated DIGINETICA-format logs)."""

from experiments.recsys.configs import base


def get_config():
  c = base.get_config()
  c.data.min_item_support, c.data.test_days, c.data.valid_days = 1, 5.0, 5.0
  c.model.embed_size, c.model.rnn.hidden_size, c.model.dropout_rate = 16, 32, 0.0
  c.train.batch_size, c.train.block, c.train.num_steps = 16, 4, 150
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 50, 75, 75
  c.optimizer.learning_rate = 1e-2
  return c
