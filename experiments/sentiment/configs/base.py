"""Every key a sentiment config may set, with defaults. Other configs start from
``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import sentiment as data_lib
from seqjax.data import registry
from seqjax.nn import layers, sentiment as models
from seqjax.train import config as checks


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "sst2"  # sst2 | sst_phrases | sst_sentences | sst_fine | imdb
  c.data.manual_dir = ""  # local copy of the raw files; "" downloads from the public source
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.tokenizer = "whitespace"  # whitespace | words
  c.data.lowercase = False
  c.data.add_bos_eos = False
  c.data.max_length = 0  # truncation length in tokens (with <s>, </s>); 0: none
  c.data.truncate = "head"  # head (keep the first tokens) | tail (keep the last)
  c.data.min_freq = 1
  c.data.max_vocab = 0  # 0: no limit
  c.data.validation_holdout = 0.0  # > 0: validation is this fraction of train (IMDB)
  c.data.bucket_chunk = 100  # batches sorted by length together; 1: no bucketing
  c.data.pad_multiple = 8  # batch widths are multiples of this (fewer compilations)
  c.data.pretrained_vectors = ""  # GloVe / word2vec text file; "" for random init
  c.data.lowercase_vectors = False  # also fill a word's row from its capitalised vector

  c.model = ml_collections.ConfigDict()
  c.model.kind = "rnn"  # rnn (SequenceClassifier) | cnn (TextCNN) | bow (BagOfWords)
  c.model.embed_size = 300
  c.model.freeze_embeddings = False
  c.model.dropout_rate = 0.5
  c.model.word_dropout_rate = 0.0
  c.model.rnn = common.rnn_section(hidden_size=256, bidirectional=True)  # kind=rnn
  c.model.pooling = "attention"  # last | mean | max | attention
  c.model.mlp_hidden = (256,)  # hidden sizes of the classifier head; () for linear
  c.model.activation = "tanh"
  c.model.output_bias = True
  c.model.filter_widths = (3, 4, 5)  # cnn
  c.model.num_filters = 100  # cnn
  c.model.channels = 1  # cnn: 2 is Kim's multichannel (needs data.pretrained_vectors)
  c.model.max_norm = 0.0  # > 0: rescale the output layer's weight vectors to this l2 norm (Kim: 3)
  c.model.reduce = "mean"  # bow: mean | sum

  c.train = common.loop_section(num_epochs=10, keep_checkpoints=2)
  c.train.batch_size = 64  # global: over every device (see parallel)
  c.train.eval_batch_size = 256

  c.parallel = common.parallel_section()

  c.optimizer = common.optimizer_section(learning_rate=0.1, momentum=0.9)
  return c


# The constraints of the keys above (cross-key checks are in experiments/sentiment/task.py).
CHECKS = {
    "data.name": checks.one_of(registry.names(registry.CLASSIFICATION)),
    "data.tokenizer": checks.one_of(sorted(data_lib.TOKENIZERS)),
    "data.truncate": checks.one_of(data_lib.TRUNCATE),
    "data.bucket_chunk": checks.positive_int, "data.pad_multiple": checks.positive_int,
    "data.min_freq": checks.positive_int, "data.validation_holdout": checks.rate,
    "model.kind": checks.one_of(sorted(models.MODELS)),
    "model.pooling": checks.one_of(models.POOLINGS),
    "model.activation": checks.one_of(sorted(layers.ACTIVATIONS)),
    "model.reduce": checks.one_of(("mean", "sum")),
    "model.embed_size": checks.positive_int, "model.num_filters": checks.positive_int,
    "model.channels": checks.one_of((1, 2)), "model.max_norm": checks.nonnegative,
    "model.dropout_rate": checks.rate, "model.word_dropout_rate": checks.rate,
    "model.filter_widths": checks.positive_ints,
    "model.mlp_hidden": checks.sizes,
}
