"""Tags sentences with a trained tagger (the best checkpoint of a workdir).

    python -m experiments.tagging.tag --workdir=/tmp/ewt "The AP comes this story :" \
        "I do n't know ."
    python -m experiments.tagging.tag --workdir=/tmp/ewt --input=sentences.txt

Input is tokenized text, one sentence per line with words separated by spaces (as the
treebank's words: *do n't*, not *don't*). Prints one line per sentence of ``word/TAG`` pairs.
"""

from __future__ import annotations

import sys
from typing import Sequence

from absl import flags, logging

from experiments import common
from experiments.tagging import task as tagging_task
from seqjax.data import tagging
from seqjax.data.builders import read_lines
from seqjax.data.sentiment import round_up
from seqjax.data.vocab import Vocabulary
from seqjax.train import trainer

FLAGS = flags.FLAGS


class Tagger:
  """A restored tagger with its vocabularies; ``tag(sentences)``."""

  def __init__(self, workdir: str, which: str = "best"):
    run = trainer.restore(tagging_task.TASK, workdir, which)
    self.config, self.model, self.params = run.config, run.model, run.params
    self.vocab = Vocabulary.from_json(run.meta["vocab"])
    self.char_vocab = Vocabulary.from_json(run.meta["char_vocab"])
    self.tag_names = run.meta["tag_names"]

  def tag(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
    """The tag names of every word of every sentence (lists of words)."""
    d = self.config.data
    split = tagging.encode_split(sentences, None, self.vocab, self.char_vocab, {},
                                 lowercase=d.lowercase, max_word_length=d.max_word_length,
                                 name="input")
    out = []
    for start in range(0, len(split), batch_size):
      indices = range(start, min(start + batch_size, len(split)))
      width = round_up(max(len(split.ids[i]) for i in indices), d.pad_multiple)
      batch = tagging.pad_tagged(split, indices, batch_size=len(indices), width=width)
      predicted = tagging_task.predict(self.model, self.params, batch)
      out += [[self.tag_names[k] for k in predicted[row, :len(split.ids[i])]]
              for row, i in enumerate(indices)]
    return out


def read_sentences(path: str) -> list[list[str]]:
  """The words of every line of ``path``; an empty line is an error naming ``file:line``."""
  lines = [line.split() for line in read_lines(path)]
  for n, words in enumerate(lines, start=1):
    if not words:
      raise ValueError(f"{path}:{n}: empty line (one sentence per line)")
  return lines


def define_flags() -> None:
  """The command's flags (defined only when run as a program, so importing this module for
  its ``Tagger`` defines none)."""
  flags.DEFINE_string("workdir", None, "A trained tagging workdir.")
  flags.DEFINE_string("input", None, "A UTF-8 file with one tokenized sentence per line.")
  flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "Which checkpoint to use.")
  flags.DEFINE_integer("batch_size", 64, "Sentences per forward pass.")
  flags.mark_flags_as_required(["workdir"])


def main(argv):
  logging.set_verbosity(logging.WARNING)
  sentences = [s.split() for s in argv[1:]]
  try:
    if any(not s for s in sentences):
      raise ValueError("an argument has no words")
    if FLAGS.input:
      sentences += read_sentences(FLAGS.input)
    if not sentences:
      raise ValueError("no sentences: give them as arguments or with --input=FILE")
    tags = Tagger(FLAGS.workdir, FLAGS.checkpoint).tag(sentences, FLAGS.batch_size)
  except (ValueError, OSError) as e:
    sys.stderr.write(f"error: {common.one_line(e)}\n")
    sys.exit(2)
  for words, predicted in zip(sentences, tags):
    print(" ".join(f"{w}/{t}" for w, t in zip(words, predicted)))


if __name__ == "__main__":
  define_flags()
  common.run(main)
