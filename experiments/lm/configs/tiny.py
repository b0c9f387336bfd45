"""A seconds-long config for tests and smoke runs: a 2x16 LSTM with Adam on PTB-format text."""

from experiments.lm.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "ptb_word"
  c.model.rnn.hidden_size, c.model.rnn.num_layers = 16, 2
  c.model.dropout_rate = c.model.rnn.dropout_rate = 0.1
  c.model.rnn.init_scale = 0.0  # the cells' own initialisation: learns in a few steps
  c.train.batch_size, c.train.bptt, c.train.num_steps = 16, 10, 20
  c.train.eval_batch_size = 2
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 5, 10, 10
  c.train.loss_reduction = "mean"
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.schedule = "adam", 3e-2, "constant"
  c.sample.length = 10
  # One device: the tests run with 8 fake CPU devices sharing 2 cores, where a model this small
  # gains nothing from splitting (tests/train/test_parallel.py sets parallel.data itself).
  c.parallel.data = 1
  return c
