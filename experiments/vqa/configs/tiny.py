"""A seconds-long config for tests and smoke runs: a small Relation Network on 64 generated
images."""

from experiments.vqa.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "sort_of_clevr_tiny"
  c.model.channels = (8, 8, 8, 8)
  c.model.g_sizes, c.model.f_sizes = (32, 32), (32,)
  c.model.mlp_size = c.model.san_size = 32
  c.model.embed_size, c.model.rnn.hidden_size = 8, 16
  c.model.dropout_rate = 0.1
  c.train.batch_size, c.train.num_steps, c.train.eval_batch_size = 8, 20, 8
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 5, 10, 10
  c.optimizer.learning_rate = 3e-3
  c.report.images = 2
  # One device: the tests run with 8 fake CPU devices sharing 2 cores.
  c.parallel.data = 1
  return c
