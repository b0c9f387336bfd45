"""CBOW with negative sampling on PTB train: ``ptb_skipgram`` with the mean of the context
vectors predicting the center (word2vec.c's CBOW learning rate 0.05)."""

from experiments.word2vec.configs import ptb_skipgram


def get_config():
  c = ptb_skipgram.get_config()
  c.model.mode, c.train.learning_rate = "cbow", 0.05
  return c
