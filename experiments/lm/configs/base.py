"""Every key an LM config may set, with defaults. Other configs start from ``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import registry
from seqjax.data.vocab import TOKENIZERS
from seqjax.train import config as checks

REDUCTIONS = ("sum_time_mean_batch", "mean")


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "ptb_word"  # ptb_word | ptb_char | tiny_shakespeare
  c.data.tokenizer = "whitespace_eos"  # whitespace_eos | characters
  c.data.unk = "<unk>"  # the unknown token; "" for closed (character) vocabularies
  c.data.level = "word"  # word (report perplexity) | char (report bits per character)
  c.data.manual_dir = ""  # local copy of the raw files; "" downloads from the public source
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.max_vocab = 0  # 0: every training token

  c.model = ml_collections.ConfigDict()
  c.model.kind = "rnn"  # rnn (RNNLM: model.rnn) | window (FixedWindowLM: model.window)
  c.model.rnn = common.rnn_section(hidden_size=200, num_layers=2, init_scale=0.1,
                                   cell_options={"forget_bias": 0.0})
  c.model.embed_size = 0  # 0: rnn.hidden_size
  # On the embeddings and the softmax input (model.rnn.dropout_rate: between layers).
  c.model.dropout_rate = 0.0
  c.model.tie_weights = False
  c.model.embed_dropout = 0.0  # drop whole word types from the embedding
  # Bengio et al. (2003): embeddings of the previous `context` tokens -> tanh -> softmax.
  c.model.window = ml_collections.ConfigDict()
  c.model.window.context = 4  # n - 1 (a 5-gram model)
  c.model.window.hidden_size = 500
  c.model.window.direct = False  # direct connections from the embeddings to the softmax

  c.train = common.loop_section(num_epochs=13, checkpoint_every=500)
  c.train.batch_size = 20  # global: over every device (see parallel)
  c.train.bptt = 35
  c.train.loss_reduction = "sum_time_mean_batch"  # or "mean"
  c.train.eval_batch_size = 1

  c.optimizer = common.optimizer_section(learning_rate=1.0, clip_norm=5.0, schedule="zaremba")

  c.parallel = common.parallel_section()

  c.sample = ml_collections.ConfigDict()
  c.sample.length = 0  # characters/words printed after training; 0: none
  c.sample.prompt = ""
  c.sample.temperature = 0.8
  c.sample.top_k = 0
  return c


# The constraints of the keys above (model.rnn is checked as an RNNSpec; cross-key checks are in
# experiments/lm/task.py).
CHECKS = {
    "data.name": checks.one_of(registry.names(registry.LM)),
    "data.tokenizer": checks.one_of(sorted(TOKENIZERS)),
    "data.level": checks.one_of(("word", "char")),
    "model.dropout_rate": checks.rate, "model.embed_dropout": checks.rate,
    "model.kind": checks.one_of(("rnn", "window")),
    "model.window.context": checks.positive_int, "model.window.hidden_size": checks.positive_int,
    "train.bptt": checks.positive_int,
    "train.loss_reduction": checks.one_of(REDUCTIONS),
}
