"""Classifies sentences with a trained sentiment model (the best checkpoint of a workdir).

    python -m experiments.sentiment.predict --workdir=/tmp/sst2 "a gorgeous , witty film ." \
        "the plot is a mess ."
    python -m experiments.sentiment.predict --workdir=/tmp/sst2 --input=sentences.txt

Prints one line per sentence: the predicted label, its probability, and the sentence. The text
is tokenized, lowercased and truncated exactly as in training (the config in the checkpoint).
"""

from __future__ import annotations

import sys
from typing import Sequence

from absl import flags, logging
import numpy as np

from experiments import common
from experiments.sentiment import task as sentiment
from seqjax.data import sentiment as data_lib
from seqjax.data.builders import read_lines
from seqjax.data.vocab import Vocabulary
from seqjax.train import trainer

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A trained sentiment workdir.")
flags.DEFINE_string("input", None, "A UTF-8 file with one sentence per line (blank lines are "
                    "skipped); sentences may also be given as arguments.")
flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "Which checkpoint to use.")
flags.DEFINE_integer("batch_size", 64, "Sentences per forward pass.")
flags.mark_flags_as_required(["workdir"])


class Predictor:
  """A restored model with its vocabulary and text options; ``classify(sentences)``."""

  def __init__(self, workdir: str, which: str = "best"):
    run = trainer.restore(sentiment.TASK, workdir, which)
    config, self.model, self.params = run.config, run.model, run.params
    self.vocab = Vocabulary.from_json(run.meta["vocab"])
    self.label_names = run.meta["label_names"]
    self.options = sentiment.text_options(config)
    self.min_length = sentiment.min_length(config)
    self.pad_multiple = config.data.pad_multiple

  def classify(self, sentences: Sequence[str],
               batch_size: int = 64) -> list[tuple[str, float, np.ndarray]]:
    """``(label name, its probability, all class probabilities)`` per sentence.

    Raises ``ValueError`` naming the sentence (1-based) that has no tokens.
    """
    ids = []
    for n, sentence in enumerate(sentences, start=1):
      try:
        ids.append(self.options.encode(self.vocab, sentence))
      except ValueError as e:
        raise ValueError(f"sentence {n}: {e}") from None
    out = []
    for start in range(0, len(ids), batch_size):
      chunk = ids[start:start + batch_size]
      batch = data_lib.pad_batch(chunk, [0] * len(chunk), pad_multiple=self.pad_multiple,
                                 min_length=self.min_length)
      predicted, probs = sentiment.predict(self.model, self.params, batch)
      for k, p in zip(predicted, probs):
        out.append((self.label_names[int(k)], float(p[int(k)]), p))
    return out


def read_sentences(path: str) -> list[str]:
  """The non-blank lines of the UTF-8 file ``path`` (``ValueError`` naming the file, line and
  byte when it is not UTF-8)."""
  return [line.strip() for line in read_lines(path) if line.strip()]


def main(argv):
  logging.set_verbosity(logging.WARNING)
  sentences = list(argv[1:])
  try:
    if FLAGS.input:
      sentences += read_sentences(FLAGS.input)
    if not sentences:
      raise ValueError("no sentences: give them as arguments or with --input=FILE")
    predictor = Predictor(FLAGS.workdir, FLAGS.checkpoint)
    results = predictor.classify(sentences, FLAGS.batch_size)
  except (ValueError, OSError) as e:
    sys.stderr.write(f"error: {common.one_line(e)}\n")
    sys.exit(2)
  for sentence, (label, prob, _) in zip(sentences, results):
    print(f"{label}\t{prob:.3f}\t{sentence}")


if __name__ == "__main__":
  common.run(main)
