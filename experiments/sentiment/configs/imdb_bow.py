"""Bag of embeddings (``sst2_bow``'s model) on ``imdb_bilstm``'s data and splits. 4 epochs.
Reproduction record: experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import imdb_bilstm, sst2_bow


def get_config():
  c = imdb_bilstm.get_config()
  c.model = sst2_bow.get_config().model
  c.model.embed_size = 256
  c.optimizer.learning_rate, c.optimizer.clip_norm = 1e-3, 0.0
  return c
