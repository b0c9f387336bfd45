"""300-dimensional skip-gram vectors from the 25,000 IMDB training reviews (≈6M words,
lowercased, ``words`` tokenizer), for the sentiment experiment's ``data.pretrained_vectors``
(the SST-2 configs use 300-dimensional embeddings). word2vec.c's skip-gram defaults otherwise
(min count 5, window 5, t = 1e-3, 5 negatives, 0.025 linearly to 0), 3 epochs; 1% of the
reviews are held out for the loss. Reproduction record: experiments/word2vec/README.md.
"""

from experiments.word2vec.configs import base


def get_config():
  c = base.get_config()
  c.data.name, c.data.min_count, c.data.window, c.data.sample = "imdb", 5, 5, 1e-3
  c.model.mode, c.model.features, c.model.negatives = "skipgram", 300, 5
  c.train.num_epochs, c.train.batch_size, c.train.learning_rate = 3, 1024, 0.025
  c.train.log_every, c.train.checkpoint_every = 5000, 10000
  c.eval.probe_words = ("good", "bad", "great", "boring", "actor", "funny", "scary", "movie",
                        "hitchcock", "oscar")
  return c
