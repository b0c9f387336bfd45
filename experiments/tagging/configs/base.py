"""Every key a tagging config may set, with defaults. Other configs start from
``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import registry, tagging
from seqjax.train import config as checks


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "ud_english_ewt"
  c.data.manual_dir = ""  # local copy of the .conllu files; "" downloads from the UD release
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.tag_field = "upos"  # upos (17 universal tags) | xpos (PTB tags)
  c.data.lowercase = True  # word vocabulary lowercased (the characters keep the case)
  c.data.min_freq = 1  # training words seen fewer times become <unk>
  c.data.max_word_length = 20  # characters per word given to the character encoder
  c.data.bucket_chunk = 100  # batches sorted by length together; 1: no bucketing
  c.data.pad_multiple = 8  # batch widths are multiples of this (fewer compilations)
  c.data.pretrained_vectors = ""  # GloVe / word2vec text file; "" for random init
  c.data.lowercase_vectors = False  # also fill a word's row from its capitalised vector

  c.model = ml_collections.ConfigDict()
  c.model.embed_size = 100
  c.model.freeze_embeddings = False
  c.model.rnn = common.rnn_section(hidden_size=200, bidirectional=True)
  c.model.char_encoder = True
  c.model.char_embed_size = 50
  c.model.char_hidden_size = 50  # per direction; one layer of model.rnn's cell and options
  c.model.dropout_rate = 0.33
  c.model.word_dropout_rate = 0.0

  c.train = common.loop_section(num_epochs=15, keep_checkpoints=2)
  c.train.batch_size = 32  # sentences; global: over every device (see parallel)
  c.train.eval_batch_size = 256

  c.parallel = common.parallel_section()

  c.optimizer = common.optimizer_section(name="adam", learning_rate=2e-3, clip_norm=5.0)
  return c


# The constraints of the keys above (cross-key checks are in experiments/tagging/task.py).
CHECKS = {
    "data.name": checks.one_of(registry.names(registry.TAGGING)),
    "data.tag_field": checks.one_of(tagging.TAG_FIELDS),
    "data.bucket_chunk": checks.positive_int, "data.pad_multiple": checks.positive_int,
    "data.min_freq": checks.positive_int, "data.max_word_length": checks.positive_int,
    "model.embed_size": checks.positive_int, "model.char_embed_size": checks.positive_int,
    "model.char_hidden_size": checks.positive_int,
    "model.dropout_rate": checks.rate, "model.word_dropout_rate": checks.rate,
}
