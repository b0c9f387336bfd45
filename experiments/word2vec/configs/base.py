"""Every key a word2vec config may set, with defaults (``word2vec.c``'s where it has one).
Other configs start from ``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import word2vec
from seqjax.train import config as checks

DATASETS = ("ptb", "imdb")


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "ptb"  # ptb (PTB train; valid for the held-out loss) | imdb (IMDB train reviews)
  c.data.manual_dir = ""  # local copy of the raw files; "" downloads from the public source
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.lowercase = True  # imdb (PTB is lowercased already)
  c.data.min_count = 5  # rarer words are removed from the stream
  c.data.max_vocab = 0  # 0: no limit
  c.data.window = 5  # the radius is drawn from 1..window for every center
  c.data.sample = 1e-3  # subsampling threshold t; 0: none
  c.data.validation_holdout = 0.01  # imdb: this fraction of the reviews for the held-out loss

  c.model = ml_collections.ConfigDict()
  c.model.mode = "skipgram"  # skipgram | cbow
  c.model.features = 100
  c.model.negatives = 5
  c.model.noise_power = 0.75
  c.model.table_size = 1_000_000  # slots of the noise table

  c.train = common.loop_section(num_epochs=5, keep_checkpoints=2, log_every=2000,
                                checkpoint_every=10000)
  c.train.batch_size = 1024  # (center, context) pairs or CBOW windows per step
  c.train.learning_rate = 0.025  # word2vec.c: 0.025 skip-gram, 0.05 CBOW
  c.train.final_learning_rate = 0.0001  # x learning_rate, reached linearly at the last step
  c.train.eval_batches = 100  # held-out batches scored at every evaluation

  c.eval = ml_collections.ConfigDict()
  c.eval.probe_words = ("money", "stock", "president", "japan", "computer", "good", "bad",
                        "year", "said", "three")
  c.eval.neighbours = 8
  c.eval.analogy_top = 5000  # derived analogy pairs use the most frequent words only
  c.eval.analogy_per_suffix = 40
  return c


# The constraints of the keys above (cross-key checks are in experiments/word2vec/task.py).
CHECKS = {
    "data.name": checks.one_of(DATASETS), "data.min_count": checks.positive_int,
    "data.window": checks.positive_int, "data.sample": checks.nonnegative,
    "model.mode": checks.one_of(word2vec.MODES), "model.features": checks.positive_int,
    "model.negatives": checks.positive_int, "model.table_size": checks.positive_int,
    "train.eval_batches": checks.positive_int, "eval.neighbours": checks.positive_int,
    "train.learning_rate": checks.positive, "train.final_learning_rate": checks.nonnegative,
    "eval.analogy_top": checks.positive_int, "eval.analogy_per_suffix": checks.positive_int,
}
