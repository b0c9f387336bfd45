"""A seconds-long config for tests and smoke runs: a 1x16 BiLSTM with a character encoder."""

from experiments.tagging.configs import base


def get_config():
  c = base.get_config()
  c.model.embed_size, c.model.rnn.hidden_size = 16, 16
  c.model.char_embed_size, c.model.char_hidden_size = 8, 8
  c.model.dropout_rate, c.model.word_dropout_rate = 0.1, 0.05
  c.train.batch_size, c.train.eval_batch_size, c.train.num_steps = 16, 64, 60
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 20, 30, 30
  c.optimizer.learning_rate = 1e-2
  c.parallel.data = 1  # one device: see experiments/sentiment/configs/tiny.py
  return c
