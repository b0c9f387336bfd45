"""Every key a sentiment config may set, with defaults. Other configs start from
``get_config()``."""

import ml_collections


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
  c.model.cell = "lstm"  # rnn | lstm | gru
  c.model.cell_options = ml_collections.ConfigDict()
  c.model.hidden_size = 256
  c.model.num_layers = 1
  c.model.bidirectional = True
  c.model.rnn_dropout_rate = 0.0  # between stacked layers
  c.model.pooling = "attention"  # last | mean | max | attention
  c.model.mlp_hidden = (256,)  # hidden sizes of the classifier head; () for linear
  c.model.activation = "tanh"
  c.model.output_bias = True
  c.model.filter_widths = (3, 4, 5)  # cnn
  c.model.num_filters = 100  # cnn
  c.model.reduce = "mean"  # bow: mean | sum
  c.model.unroll = 1

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 64
  c.train.eval_batch_size = 256
  c.train.num_epochs = 10
  c.train.num_steps = 0  # > 0 overrides num_epochs
  c.train.log_every = 100
  c.train.eval_every = 0  # 0: every epoch
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 2
  c.train.patience = 0
  c.train.plateau_factor = 0.0
  c.train.plateau_patience = 1
  c.train.test_at_end = True

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.1
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 0.0
  c.optimizer.clip_norm = 0.0
  c.optimizer.schedule = "constant"
  c.optimizer.decay = 0.5
  c.optimizer.decay_after = 4
  c.optimizer.warmup_steps = 0
  c.optimizer.total_steps = 0
  return c
