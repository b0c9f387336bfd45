"""A seconds-long config for tests and smoke runs: a 1x16 BiLSTM on SST-2 format data."""

from experiments.sentiment.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "sst2"
  c.data.max_length = 40
  c.model.embed_size, c.model.rnn.hidden_size, c.model.mlp_hidden = 16, 16, (16,)
  c.model.dropout_rate, c.model.word_dropout_rate = 0.1, 0.05
  c.train.batch_size, c.train.eval_batch_size, c.train.num_steps = 16, 32, 60
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 20, 30, 30
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum = "adam", 1e-2, 0.0
  # One device: the tests run with 8 fake CPU devices sharing 2 cores, where a model this small
  # gains nothing from splitting (tests/train/test_parallel.py sets parallel.data itself).
  c.parallel.data = 1
  return c
