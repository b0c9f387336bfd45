"""Every key a synthetic-task config may set, with defaults. Other configs start from
``get_config()``."""

import ml_collections

from experiments import common
from seqjax.data import synthetic
from seqjax.train import config as checks


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.task = "adding"  # adding | copy
  c.data.length = 50  # T
  c.data.num_symbols = 8  # copy: k
  c.data.copy_length = 10  # copy: n

  c.model = ml_collections.ConfigDict()
  c.model.rnn = common.rnn_section(hidden_size=128)
  c.model.encoder_size = 0  # > 0: gelu(Dense) before the recurrence (what the LRU needs)

  c.train = common.loop_section(num_steps=2000, num_epochs=0, log_every=100, eval_every=500,
                                checkpoint_every=1000, keep_checkpoints=1)
  c.train.batch_size = 64  # global: over every device (see parallel)
  c.train.eval_batches = 10  # held-out batches (seeds never used in training)
  c.train.diagnose_every = 0  # > 0: log ‖∂L/∂h_t‖ at a few distances every N steps

  c.parallel = common.parallel_section()

  c.optimizer = common.optimizer_section(name="adam", learning_rate=1e-3, clip_norm=1.0)
  return c


def _count(key, value):
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    raise ValueError(f"{key} must be an int >= 0; got {value!r}")


# The constraints of the keys above (cross-key checks are in experiments/synthetic/task.py).
CHECKS = {
    "data.task": checks.one_of(synthetic.TASKS), "data.length": checks.positive_int,
    "data.num_symbols": checks.positive_int, "data.copy_length": checks.positive_int,
    "model.encoder_size": _count, "train.eval_batches": checks.positive_int,
}
