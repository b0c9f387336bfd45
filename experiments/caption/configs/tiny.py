"""A seconds-long config for tests and smoke runs: a small Show, Attend and Tell on 64 generated
scenes."""

from experiments.caption.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "scene_captions_tiny"
  c.model.channels = (8, 8, 8)
  c.model.embed_size, c.model.rnn.hidden_size = 16, 24
  c.model.dropout_rate = 0.1
  c.train.batch_size, c.train.num_steps, c.train.eval_batch_size = 16, 20, 16
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 5, 10, 10
  c.optimizer.learning_rate = 3e-3
  c.decode.beam_size, c.decode.figures = 2, 2
  # One device: the tests run with 8 fake CPU devices sharing 2 cores.
  c.parallel.data = 1
  return c
