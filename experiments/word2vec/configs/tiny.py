"""A seconds-long config for tests and smoke runs (generated PTB-format text)."""

from experiments.word2vec.configs import base


def get_config():
  c = base.get_config()
  c.data.min_count, c.data.window, c.data.sample = 2, 3, 0.0
  c.model.features, c.model.negatives, c.model.table_size = 16, 4, 10000
  c.train.batch_size, c.train.num_steps, c.train.learning_rate = 64, 300, 0.05
  c.train.log_every, c.train.eval_every, c.train.checkpoint_every = 100, 150, 150
  c.train.eval_batches = 10
  c.eval.probe_words = ("w1", "w2")
  c.eval.neighbours, c.eval.analogy_top = 3, 200
  return c
