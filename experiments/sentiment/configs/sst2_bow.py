"""Bag of embeddings on GLUE SST-2: the mean of 300-d word vectors, dropout 0.5, a linear
softmax (fastText-style). Adam 1e-3, batch 64, 5 epochs. Reproduction record:
experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "sst2"
  c.data.tokenizer, c.data.max_length = "whitespace", 60
  c.model.kind, c.model.embed_size, c.model.reduce = "bow", 300, "mean"
  c.model.mlp_hidden, c.model.dropout_rate = (), 0.5
  c.train.batch_size, c.train.num_epochs, c.train.log_every = 64, 5, 200
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum = "adam", 1e-3, 0.0
  return c
