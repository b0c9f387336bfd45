"""Kneser–Ney n-gram baseline on an LM corpus: trains ``seqjax.ngram.KneserNey`` on the training
split's sentences and reports per-word perplexity on validation and test over every word and
every ``<eos>`` of each split, with the vocabulary of the same data pipeline the RNN LMs use.
(A streamed RNN LM scores the same tokens but the split's first, which has no left context in
the stream: 82,429 of PTB test's 82,430.)

    python -m experiments.lm.ngram --manual_dir=../shared/data/ptb --order=5 \
        [--out=runs/kn5.json]
"""

from __future__ import annotations

import json
import sys
import time

from absl import app, flags, logging
import numpy as np

from experiments import common

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "ptb_word", "An LM corpus of seqjax.data.registry (word level).")
flags.DEFINE_string("manual_dir", "", "Local copy of the raw files; empty downloads them.")
flags.DEFINE_string("data_dir", "", "Where TFDS keeps prepared data; empty is its default.")
flags.DEFINE_integer("order", 5, "n of the n-gram model.")
flags.DEFINE_string("out", "", "Also write the results as JSON to this file.")


def sentences(ids: np.ndarray, eos: int) -> list[np.ndarray]:
  """A stream ``w w <eos> w <eos> …`` cut into sentences (the ``<eos>`` dropped); a stream
  that does not end in ``<eos>`` is refused."""
  ends = np.flatnonzero(ids == eos)
  if len(ids) and (not len(ends) or ends[-1] != len(ids) - 1):
    raise ValueError("the corpus stream must end with <eos>")
  return np.split(ids, ends + 1)[:-1]


def evaluate(order: int, corpus, log=print) -> dict:
  """Fits KN-``order`` on ``corpus.splits["train"]``; perplexity of validation and test."""
  from seqjax.ngram import KneserNey  # pylint: disable=g-import-not-at-top
  eos = corpus.vocab.ids["<eos>"]
  # KN adds its own </s>: the ids above <eos> move down by one so the words are 0..V-2.
  remap = lambda s: np.where(s[:-1] > eos, s[:-1] - 1, s[:-1])
  split = {name: [remap(s) for s in sentences(ids, eos)] for name, ids in corpus.splits.items()}
  start = time.time()
  model = KneserNey.fit(split["train"], order=order, vocab_size=len(corpus.vocab) - 1)
  fit_s = time.time() - start
  result = {"order": order, "vocab": len(corpus.vocab), "fit_seconds": round(fit_s, 1),
            "discounts": [o.discounts[1:].round(4).tolist() for o in model.orders]}
  for name in ("validation", "test"):
    ppl, tokens = model.perplexity(split[name])
    expected = len(corpus.splits[name])
    if tokens != expected:  # the RNN LMs score every token of the stream
      raise RuntimeError(f"{name}: scored {tokens} tokens, the stream has {expected}")
    result[name] = {"ppl": ppl, "tokens": tokens}
    log(f"{name}: KN-{order} perplexity {ppl:.2f} over {tokens:,} tokens")
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  from seqjax.data import lm as lm_data  # pylint: disable=g-import-not-at-top
  from seqjax.data import registry  # pylint: disable=g-import-not-at-top
  if FLAGS.order < 1:
    sys.stderr.write(f"error: --order must be >= 1; got {FLAGS.order}\n")
    sys.exit(2)
  if FLAGS.dataset not in registry.names(registry.LM):
    sys.stderr.write(f"error: --dataset must be one of {registry.names(registry.LM)}; got "
                     f"{FLAGS.dataset!r}\n")
    sys.exit(2)
  common.check_or_exit(lambda: registry.check_manual_dir(FLAGS.manual_dir, FLAGS.dataset))
  corpus = lm_data.load_corpus(FLAGS.dataset, tokenizer="whitespace_eos", unk="<unk>",
                               manual_dir=FLAGS.manual_dir or None,
                               data_dir=FLAGS.data_dir or None)
  result = evaluate(FLAGS.order, corpus)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  common.run(main)
