"""``imdb_bilstm`` with a unidirectional 256-unit LSTM and mean pooling over time (the last
state alone of a 400-step LSTM trains slowly from scratch). Reproduction record:
experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import imdb_bilstm


def get_config():
  c = imdb_bilstm.get_config()
  c.model.rnn.bidirectional, c.model.rnn.hidden_size, c.model.pooling = False, 256, "mean"
  return c
