"""A corpus as independent sentences (sentence-level language models, the sentence VAE).

Each line of a split is one sentence; no context crosses a line. A sentence of ``n`` words is
stored as its ``n`` word ids and read in two forms: the decoder input ``<bos> w_1 … w_n`` and
the target ``w_1 … w_n <eos>``, so ``n + 1`` tokens are predicted (``<eos>`` counts, as in
Bowman et al. 2016 and the stream-level PTB numbers). The vocabulary is the stream reader's
(``seqjax.data.lm``: every token of train, ``<eos>`` among them, PTB's own ``<unk>``) with
``<pad>`` (id 0) and ``<bos>`` (id 1) in front.

Batches (``sentence_batches``, a ``BucketedBatches``) hold

- ``inputs [B, T]``: ``<bos> w_1 … w_n``, then ``<pad>``;
- ``targets [B, T]``: ``w_1 … w_n <eos>``, then ``<pad>``;
- ``lengths [B]``: ``n + 1`` (0 for a filler row);
- ``weights [B]``: 1 for a sentence, 0 for the filler rows that complete the last batch;
- ``index [B]``: the sentence's position in its split (-1 for filler), so randomness drawn per
  sentence (the VAE's posterior sample at evaluation) does not depend on how it is batched.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from seqjax.data import lm as lm_data
from seqjax.data.batching import BucketedBatches
from seqjax.data.vocab import EOS, UNK, Vocabulary

PAD, BOS = "<pad>", "<bos>"
SPLITS = lm_data.SPLITS


@dataclasses.dataclass
class Sentences:
  vocab: Vocabulary
  splits: dict[str, list[np.ndarray]]  # split -> one int32 array of word ids per sentence

  @property
  def pad_id(self) -> int:
    return self.vocab.ids[PAD]

  @property
  def bos_id(self) -> int:
    return self.vocab.ids[BOS]

  @property
  def eos_id(self) -> int:
    return self.vocab.ids[EOS]


def split_sentences(texts: Sequence[str]) -> list[list[str]]:
  """The sentences (whitespace-separated words) of a split's texts, one per non-empty line."""
  return [line.split() for text in texts for line in text.split("\n") if line.strip()]


def build_vocab(train: Sequence[Sequence[str]], max_vocab: int | None = None) -> Vocabulary:
  """``<pad>``, ``<bos>``, then the tokens of train by decreasing count with ``<eos>`` counted
  once per sentence (the stream reader's vocabulary); ``<unk>`` is added when train lacks it."""
  tokens = (t for words in train for t in list(words) + [EOS])
  return Vocabulary.build(tokens, specials=(PAD, BOS), unk=UNK,
                          max_size=None if not max_vocab else max_vocab + 2)


def load_sentences(name: str, *, data_dir: str | None = None, manual_dir: str | None = None,
                   vocab: Vocabulary | None = None, max_vocab: int | None = None) -> Sentences:
  """Every split of corpus ``name`` (an ``lm`` dataset of the registry) as sentences of ids; the
  vocabulary is built from train unless given (a resumed run passes the saved one)."""
  builder = lm_data.prepare(name, data_dir=data_dir, manual_dir=manual_dir)
  words = {s: split_sentences(lm_data.read_split(builder, s)) for s in SPLITS}
  for split, sents in words.items():
    if not sents:
      raise ValueError(f"{name}: the {split} split has no sentences")
  if vocab is None:
    vocab = build_vocab(words["train"], max_vocab)
  for special in (PAD, BOS, EOS):
    if special not in vocab.ids:
      raise ValueError(f"sentences: the vocabulary lacks {special!r}")
  return Sentences(vocab=vocab, splits={
      s: [vocab.encode(w).astype(np.int32) for w in sents] for s, sents in words.items()})


def pad_sentences(sentences: Sequence[np.ndarray], indices: np.ndarray, rows: int, width: int,
                  *, pad_id: int, bos_id: int, eos_id: int) -> dict[str, np.ndarray]:
  """The batch of ``sentences[indices]`` (module docstring), ``rows`` rows of ``width`` steps;
  ``width`` must be at least the longest sentence's length + 1."""
  inputs = np.full((rows, width), pad_id, np.int32)
  targets = np.full((rows, width), pad_id, np.int32)
  lengths = np.zeros((rows,), np.int32)
  weights = np.zeros((rows,), np.float32)
  index = np.full((rows,), -1, np.int32)
  for r, i in enumerate(indices):
    ids = sentences[i]
    n = len(ids)
    if n + 1 > width:
      raise ValueError(f"pad_sentences: sentence {i} has {n} words; width {width} holds "
                       f"{width - 1}")
    inputs[r, 0], inputs[r, 1:n + 1] = bos_id, ids
    targets[r, :n], targets[r, n] = ids, eos_id
    lengths[r], weights[r], index[r] = n + 1, 1.0, i
  return {"inputs": inputs, "targets": targets, "lengths": lengths, "weights": weights,
          "index": index}


def sentence_batches(corpus: Sentences, split: str, batch_size: int,
                     **options: Any) -> BucketedBatches:
  """Length-bucketed batches of a split (``options``: ``BucketedBatches``' ``shuffle``,
  ``seed``, ``bucket_chunk``, ``pad_multiple``, ``shard``)."""
  sents = corpus.splits[split]
  lengths = np.asarray([len(s) + 1 for s in sents], np.int64)

  def pad(split_, indices, rows, widths):
    return pad_sentences(split_, indices, rows, widths[0], pad_id=corpus.pad_id,
                         bos_id=corpus.bos_id, eos_id=corpus.eos_id)

  return BucketedBatches(sents, batch_size, pad=pad, lengths=lengths, **options)
