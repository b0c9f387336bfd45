"""Skip-gram with negative sampling on PTB train (887k words, 10k-word vocabulary).

``word2vec.c``'s defaults for skip-gram: 5 negatives from unigram^0.75, window 5 (dynamic),
subsampling t = 1e-3, min count 5, SGD from 0.025 decayed linearly to 0.025e-4; 100 dimensions;
10 epochs (word2vec.c's default is 5 over much larger corpora). Batches of 1024 pairs updated
together (word2vec.c updates pair by pair from several threads). Reproduction record and the
numbers: experiments/word2vec/README.md.
"""

from experiments.word2vec.configs import base


def get_config():
  c = base.get_config()
  c.data.name, c.data.min_count, c.data.window, c.data.sample = "ptb", 5, 5, 1e-3
  c.model.mode, c.model.features, c.model.negatives = "skipgram", 100, 5
  c.train.num_epochs, c.train.batch_size, c.train.learning_rate = 10, 1024, 0.025
  return c
