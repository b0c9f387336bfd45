"""A tiny GRU-attention model for smoke tests: a few steps on the first pairs of Multi30k, or
on any data a test points it at. Not a result."""

from experiments.translate.configs import base


def get_config():
  c = base.get_config()
  c.data.max_length = 20
  c.model.embed_size, c.model.rnn.hidden_size = 16, 16
  c.model.dropout_rate = 0.1
  c.train.batch_size, c.train.eval_batch_size = 16, 256  # few evaluation shapes to compile
  c.train.num_steps, c.train.log_every, c.train.eval_every = 6, 2, 3
  c.train.checkpoint_every = 3
  c.train.best_metric = "loss"  # no decoding at every evaluation: keeps smoke tests quick
  c.decode.beam_size, c.decode.max_len_b = 2, 4
  c.decode.max_len_a = 1.0
  c.decode.test_splits = ("test_2016_flickr",)
  c.decode.plot_examples = (0,)
  # One device: the tests run with 8 fake CPU devices sharing 2 cores, where a model this small
  # gains nothing from splitting (tests/train/test_parallel.py sets parallel.data itself).
  c.parallel.data = 1
  return c
