"""Every key a translation config may set, with defaults. Other configs start from
``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import registry, translate as data_lib
from seqjax.nn import seq2seq
from seqjax.train import config as checks


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "multi30k"
  c.data.source_lang = "de"  # de | en
  c.data.target_lang = "en"
  c.data.manual_dir = ""  # local copy of the raw files; "" downloads from the public source
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.tokenizer = "word"  # word | sentencepiece (one model per language, fit on train)
  c.data.lowercase = True
  c.data.min_freq = 2  # word
  c.data.max_vocab = 0  # word; 0: no limit
  c.data.vocab_size = 8000  # sentencepiece
  c.data.model_type = "unigram"  # sentencepiece: unigram | bpe
  c.data.max_length = 0  # drop training pairs longer than this (tokens); 0: keep all
  c.data.bucket_chunk = 100  # batches sorted by length together; 1: no bucketing
  c.data.pad_multiple = 4  # batch widths are multiples of this (fewer compilations)

  c.model = ml_collections.ConfigDict()
  # The encoder; the decoder uses its cell, cell_options, init_scale and unroll.
  c.model.rnn = common.rnn_section(cell="gru", hidden_size=512, bidirectional=True)
  c.model.embed_size = 256
  c.model.decoder_hidden_size = 0  # 0: rnn.hidden_size
  c.model.decoder_layers = 1
  c.model.bridge = "project"  # last | project | zeros
  c.model.attention = "additive"  # none | additive | bilinear | dot | scaled_dot
  c.model.attention_size = 0  # additive: 0 is the decoder's hidden size
  c.model.style = "bahdanau"  # bahdanau | luong
  c.model.input_feeding = False  # luong only
  c.model.reverse_source = False
  c.model.dropout_rate = 0.5  # embeddings and the softmax input
  c.model.teacher_forcing_ratio = 1.0

  c.train = common.loop_section(num_epochs=10, keep_checkpoints=2, log_every=50)
  c.train.batch_size = 128  # global: over every device (see parallel)
  c.train.eval_batch_size = 128
  c.train.label_smoothing = 0.0
  c.train.best_metric = "bleu"  # bleu (greedy, validation) | loss

  c.decode = ml_collections.ConfigDict()
  c.decode.beam_size = 5
  c.decode.alpha = 0.0  # GNMT length penalty exponent; 0: raw log-probability
  c.decode.max_len_a = 1.5  # at most a * source_width + b target tokens
  c.decode.max_len_b = 10
  c.decode.test_splits = ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")
  c.decode.plot_examples = (0, 1, 2)  # test_2016_flickr sentences drawn as attention heat maps

  c.parallel = common.parallel_section()

  c.optimizer = common.optimizer_section(name="adam", learning_rate=1e-3, clip_norm=1.0)
  return c


# The constraints of the keys above (cross-key checks are in experiments/translate/task.py).
CHECKS = {
    "data.name": checks.one_of(registry.names(registry.TRANSLATION)),
    "data.source_lang": checks.one_of(data_lib.LANGUAGES),
    "data.target_lang": checks.one_of(data_lib.LANGUAGES),
    "data.tokenizer": checks.one_of(sorted(data_lib.TOKENIZERS)),
    "data.model_type": checks.one_of(("unigram", "bpe")),
    "data.bucket_chunk": checks.positive_int, "data.pad_multiple": checks.positive_int,
    "data.min_freq": checks.positive_int, "data.vocab_size": checks.positive_int,
    "model.bridge": checks.one_of(seq2seq.BRIDGES),
    "model.attention": checks.one_of(seq2seq.ATTENTIONS),
    "model.style": checks.one_of(seq2seq.STYLES),
    "model.embed_size": checks.positive_int, "model.decoder_layers": checks.positive_int,
    "model.dropout_rate": checks.rate,
    "train.best_metric": checks.one_of(("bleu", "loss")),
    "train.label_smoothing": checks.rate,
    "decode.beam_size": checks.positive_int, "decode.max_len_a": checks.nonnegative,
    "decode.max_len_b": checks.nonnegative, "decode.alpha": checks.nonnegative,
}
