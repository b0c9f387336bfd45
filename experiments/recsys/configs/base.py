"""Every key a recsys config may set, with defaults. Other configs start from
``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import registry
from seqjax.train import config as checks

LOSSES = ("full", "in_batch", "sampled")


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "diginetica_sample"  # diginetica_sample | diginetica | yoochoose
  c.data.manual_dir = ""  # the directory holding the raw log (both datasets need registration)
  c.data.data_dir = ""  # where TFDS keeps prepared ArrayRecords; "" is ~/tensorflow_datasets
  c.data.min_item_support = 5  # SR-GNN: items seen fewer times are removed
  c.data.test_days = 7.0  # SR-GNN: the last 7 days (DIGINETICA) or 1 day (YOOCHOOSE) are test
  c.data.valid_days = 7.0  # the last days of training pick the checkpoint; 0: keep the last

  c.model = ml_collections.ConfigDict()
  c.model.rnn = common.rnn_section(cell="gru", hidden_size=100)
  c.model.embed_size = 100
  c.model.dropout_rate = 0.25  # on the item embeddings and the hidden states

  c.train = common.loop_section(num_epochs=10, keep_checkpoints=2, log_every=50)
  c.train.batch_size = 32  # session-parallel lanes
  c.train.block = 10  # steps per block (BPTT inside sessions, carry across blocks)
  c.train.loss = "in_batch"  # full | in_batch | sampled
  c.train.num_samples = 0  # sampled: extra negatives per block
  c.train.sample_alpha = 0.75  # sampled: popularity^alpha
  c.train.eval_batch_size = 64  # lanes
  c.train.top_k = 20  # Recall@K and MRR@K

  c.baselines = ml_collections.ConfigDict()
  c.baselines.knn_lambda = 20.0  # ItemKNN's similarity regulariser

  c.optimizer = common.optimizer_section(name="adam", learning_rate=1e-3, clip_norm=5.0)
  return c


# The constraints of the keys above (cross-key checks are in experiments/recsys/task.py).
CHECKS = {
    "data.name": checks.one_of(registry.names(registry.SESSIONS)),
    "data.min_item_support": checks.positive_int, "data.valid_days": checks.nonnegative,
    "model.embed_size": checks.positive_int, "model.dropout_rate": checks.rate,
    "train.loss": checks.one_of(LOSSES), "train.block": checks.positive_int,
    "train.top_k": checks.positive_int,
}
