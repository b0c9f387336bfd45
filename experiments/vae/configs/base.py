"""Every key a sentence-VAE config may set, with defaults. Other configs start from
``get_config()``. ``model.latent_size=0`` is the sentence-level RNN LM baseline."""

import ml_collections

from experiments import common
from seqjax.data import registry
from seqjax.nn import vae
from seqjax.train import config as checks


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "ptb_word"  # a corpus of the lm registry, read one sentence per line
  c.data.manual_dir = ""  # local copy of the raw files; "" downloads from the public source
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.max_vocab = 0  # 0: every word of train (PTB: its 10k)
  c.data.bucket_chunk = 100  # batches sorted by length together; 1: no bucketing
  c.data.pad_multiple = 8  # batch widths are multiples of this (fewer compilations)

  c.model = ml_collections.ConfigDict()
  c.model.embed_size = 256
  c.model.latent_size = 32  # 0: no encoder, no z (the sentence RNN LM)
  c.model.encoder = common.rnn_section(hidden_size=256)
  c.model.decoder = common.rnn_section(hidden_size=256)
  c.model.word_keep = 1.0  # decoder word dropout keep rate k; 0: the inputless decoder
  c.model.z_every_step = False  # z also concatenated to every decoder input
  c.model.dropout_rate = 0.0  # on the embeddings and the softmax input
  c.model.tie_weights = False  # the softmax reuses the embedding (decoder size = embed_size)

  c.kl = ml_collections.ConfigDict()
  c.kl.anneal = "sigmoid"  # none | linear | sigmoid (KL cost annealing, Bowman et al. 3.1)
  c.kl.anneal_steps = 10000  # linear: 0 -> 1 over these steps; sigmoid: 1/2 at half of them
  c.kl.free_bits = 0.0  # > 0: nats per latent dimension below which KL costs nothing extra

  c.eval = ml_collections.ConfigDict()
  c.eval.is_samples = 0  # > 0: importance-sampled NLL with this many samples, at the end
  c.eval.is_splits = ("test",)  # the final splits that get it (validation | test)
  c.eval.impute_sentences = 0  # > 0: impute the end of this many test sentences at the end
  c.eval.impute_missing = 3  # words to fill
  c.eval.beam_size = 10
  c.eval.num_homotopies = 0  # pairs of test sentences decoded along the line between codes
  c.eval.homotopy_steps = 5
  c.eval.max_decode_length = 40

  c.sample = ml_collections.ConfigDict()
  c.sample.num = 0  # sentences generated at the end (from the prior for a VAE)
  c.sample.temperature = 0.0  # 0: greedy (one sentence per z); > 0: sampled

  c.train = common.loop_section(num_epochs=10, keep_checkpoints=2)
  c.train.batch_size = 32  # global: over every device (see parallel)
  c.train.eval_batch_size = 128

  c.parallel = common.parallel_section()

  c.optimizer = common.optimizer_section(name="adam", learning_rate=1e-3, clip_norm=0.0)
  return c


# The constraints of the keys above (cross-key checks are in experiments/vae/task.py).
CHECKS = {
    "data.name": checks.one_of(registry.names(registry.LM)),
    "data.max_vocab": checks.nonnegative_int,
    "data.bucket_chunk": checks.positive_int, "data.pad_multiple": checks.positive_int,
    "model.embed_size": checks.positive_int, "model.latent_size": checks.nonnegative_int,
    "model.word_keep": checks.probability, "model.dropout_rate": checks.rate,
    "kl.anneal": checks.one_of(vae.ANNEALING), "kl.anneal_steps": checks.nonnegative_int,
    "kl.free_bits": checks.nonnegative,
    "eval.is_samples": checks.nonnegative_int,
    "eval.is_splits": checks.subset_of(("validation", "test")),
    "eval.impute_sentences": checks.nonnegative_int,
    "eval.impute_missing": checks.positive_int, "eval.beam_size": checks.positive_int,
    "eval.num_homotopies": checks.nonnegative_int, "eval.homotopy_steps": checks.positive_int,
    "eval.max_decode_length": checks.positive_int,
    "sample.num": checks.nonnegative_int, "sample.temperature": checks.nonnegative,
}
