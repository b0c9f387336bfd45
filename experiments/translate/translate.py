"""Translates sentences with a trained model (the best checkpoint of a workdir).

    python -m experiments.translate.translate --workdir=/tmp/multi30k \
        "Ein Mann fährt mit dem Fahrrad." "Zwei Hunde spielen im Schnee."
    python -m experiments.translate.translate --workdir=/tmp/multi30k --input=sentences.de \
        --beam_size=5 --plot_dir=/tmp/heatmaps
    python -m experiments.translate.translate --workdir=/tmp/multi30k --temperature=0.8 \
        --top_k=10 "Ein Hund rennt."

Prints one translation per input line, in order. Sentences are tokenized exactly as in
training (the tokenizers are stored in the checkpoint). ``--plot_dir`` also writes each
sentence's attention heat map as a PNG.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from absl import flags, logging

from experiments import common
from experiments.translate import decoding, task as translate_task
from seqjax import diagnostics
from seqjax.data import translate as data_lib
from seqjax.data.builders import read_lines
from seqjax.train import trainer

FLAGS = flags.FLAGS


class Translator:
  """A restored model with its tokenizers; ``translate(sentences)``."""

  def __init__(self, workdir: str, which: str = "best", beam_size: int | None = None,
               alpha: float | None = None, temperature: float = 0.0, top_k: int = 0,
               seed: int = 0):
    run = trainer.restore(translate_task.TASK, workdir, which)
    config, self.model, self.params = run.config, run.model, run.params
    self.src_tok, self.tgt_tok = translate_task.tokenizers_from_meta(run.meta)
    dec = config.decode
    self.beam_size = dec.beam_size if beam_size is None else beam_size
    self.translator = decoding.make_translator(
        self.model, beam_size=self.beam_size, alpha=dec.alpha if alpha is None else alpha,
        max_len_a=dec.max_len_a, max_len_b=dec.max_len_b, temperature=temperature, top_k=top_k,
        seed=seed)
    self.pad_multiple = config.data.pad_multiple

  def encode(self, sentences: Sequence[str]) -> list:
    ids = []
    for n, sentence in enumerate(sentences, start=1):
      if not sentence.strip():
        raise ValueError(f"sentence {n} is empty")
      ids.append(data_lib.encode_source(self.src_tok, sentence))
    return ids

  def translate_ids(self, sentences: Sequence[str], batch_size: int = 64) -> list[list[int]]:
    """The output token ids (without specials) of every sentence."""
    ids = self.encode(sentences)
    out = []
    for start in range(0, len(ids), batch_size):
      chunk = ids[start:start + batch_size]
      # Targets are not known; a one-token dummy keeps pad_pairs' shapes.
      batch = data_lib.pad_pairs(chunk, [[data_lib.EOS_ID]] * len(chunk),
                                 range(len(chunk)), batch_size=len(chunk),
                                 pad_multiple=self.pad_multiple)
      tokens = self.translator(self.params, batch["src"], batch["src_lengths"])
      out.extend(data_lib.strip_special(row) for row in tokens)
    return out

  def translate(self, sentences: Sequence[str], batch_size: int = 64) -> list[str]:
    return [self.tgt_tok.decode(x) for x in self.translate_ids(sentences, batch_size)]

  def plot(self, sentence: str, output_ids: Sequence[int], path: str) -> str:
    src = self.encode([sentence])[0]
    weights = decoding.attention_weights(self.model, self.params, src, output_ids)
    return diagnostics.plot_attention(weights, self.src_tok.pieces(src),
                                      self.tgt_tok.pieces(output_ids) + [data_lib.EOS], path,
                                      title=f"{sentence}\n-> {self.tgt_tok.decode(output_ids)}")


def read_sentences(path: str) -> list[str]:
  """Every line of ``path``; an empty line is an error naming it (``file:line``)."""
  lines = read_lines(path)
  for n, line in enumerate(lines, start=1):
    if not line.strip():
      raise ValueError(f"{path}:{n}: empty sentence")
  return lines


def main(argv):
  logging.set_verbosity(logging.WARNING)
  sentences = list(argv[1:])
  try:
    if FLAGS.input:
      sentences += read_sentences(FLAGS.input)
    if not sentences:
      raise ValueError("no sentences: give them as arguments or with --input=FILE")
    if FLAGS.beam_size is not None and FLAGS.beam_size < 1:
      raise ValueError(f"--beam_size must be >= 1; got {FLAGS.beam_size}")
    beam_size = FLAGS.beam_size
    if FLAGS.temperature > 0:
      if beam_size not in (None, 1):
        raise ValueError("--temperature > 0 samples; it needs --beam_size=1")
      beam_size = 1
    translator = Translator(FLAGS.workdir, FLAGS.checkpoint, beam_size, FLAGS.alpha,
                            FLAGS.temperature, FLAGS.top_k, FLAGS.seed)
    outputs = translator.translate_ids(sentences, FLAGS.batch_size)
  except (ValueError, OSError) as e:
    sys.stderr.write(f"error: {common.one_line(e)}\n")
    sys.exit(2)
  for ids in outputs:
    print(translator.tgt_tok.decode(ids))
  if FLAGS.plot_dir:
    for n, (sentence, ids) in enumerate(zip(sentences, outputs), start=1):
      path = translator.plot(sentence, ids, os.path.join(FLAGS.plot_dir, f"attention_{n}.png"))
      sys.stderr.write(f"wrote {path}\n")


def define_flags() -> None:
  """The command's flags (defined only when run as a program, so importing this module for
  ``Translator`` adds no flags)."""
  flags.DEFINE_string("workdir", None, "A trained translation workdir.")
  flags.DEFINE_string("input", None, "A UTF-8 file with one source sentence per line (every line "
                      "must hold a sentence); sentences may also be given as arguments.")
  flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "Which checkpoint to use.")
  flags.DEFINE_integer("beam_size", None, "Beam size; 1 is greedy. Default: the config's.")
  flags.DEFINE_float("alpha", None, "Length penalty exponent. Default: the config's.")
  flags.DEFINE_float("temperature", 0.0, "> 0 samples translations (with --beam_size=1) from "
                     "softmax(logits / temperature) instead of searching.")
  flags.DEFINE_integer("top_k", 0, "Sampling: keep the k most likely tokens (0: all).")
  flags.DEFINE_integer("seed", 0, "Sampling seed.")
  flags.DEFINE_integer("batch_size", 64, "Sentences decoded together.")
  flags.DEFINE_string("plot_dir", None, "Write one attention heat map PNG per sentence here.")
  flags.mark_flags_as_required(["workdir"])


if __name__ == "__main__":
  define_flags()
  common.run(main)
