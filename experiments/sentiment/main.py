"""Trains a sentiment classifier.

    python -m experiments.sentiment.main --config=experiments/sentiment/configs/sst2_bilstm.py \
        --workdir=/tmp/sst2 [--config.data.manual_dir=../shared/data/sst2]

Any config value can be overridden, e.g. ``--config.model.pooling=max``. A workdir that holds
a checkpoint is resumed. ``experiments.sentiment.predict`` classifies new text.
"""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import common
from experiments.sentiment import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to a sentiment config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO; progress is printed
  common.check_or_exit(lambda: train.validate(FLAGS.config))
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main, flags_parser=common.flags_parser)
