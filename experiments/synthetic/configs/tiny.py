"""A few steps of the adding problem at T=20: smoke tests only."""

from experiments.synthetic.configs import base


def get_config():
  c = base.get_config()
  c.data.length = 20
  c.model.rnn.hidden_size = 16
  c.train.num_steps, c.train.log_every, c.train.eval_every = 6, 2, 3
  c.train.batch_size, c.train.eval_batches = 8, 2
  c.train.checkpoint_every = 3
  return c
