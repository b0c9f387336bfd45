"""word2vec training data (Mikolov et al. 2013): the vocabulary and counts, frequent-word
subsampling, the dynamic window, skip-gram pairs and CBOW windows, the unigram^0.75 noise
table and the analogy questions derived from the corpus itself.

As in ``word2vec.c``:

- The vocabulary keeps words seen at least ``min_count`` times (rarer ones are *removed* from
  the stream, not mapped to ``<unk>``), sorted by decreasing count.
- Subsampling keeps each occurrence of a word of relative frequency ``f`` with probability
  ``min(1, (sqrt(f / t) + 1) * t / f)`` (``t`` = ``sample``), before windows are formed.
- For every kept position a window radius ``b ~ U{1..window}`` is drawn; the contexts are the
  kept words within ``b`` on either side, inside the same sentence.
- Negatives are drawn from the unigram distribution raised to 3/4, through a table of
  ``table_size`` word ids (``noise_table``) indexed uniformly.

``PairBatches`` serves an epoch's examples, shuffled, in batches of ``batch_size``: skip-gram
``{"inputs": center [B], "targets": context [B]}`` or CBOW ``{"inputs": contexts [B, 2W],
"input_mask": [B, 2W], "targets": center [B]}``. Epoch ``e`` is a function of ``(seed, e)``
only, and the position is a JSON-able dict, so a resumed run sees the same batches.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Sequence

import numpy as np

from seqjax.data.epochs import EpochBatches
from seqjax.data.vocab import Vocabulary

MODES = ("skipgram", "cbow")


@dataclasses.dataclass
class Corpus:
  """``vocab`` (words by decreasing count), ``counts [V]`` and per split the kept word ids
  ``ids`` with ``sentence`` (the sentence index of every id)."""
  vocab: Vocabulary
  counts: np.ndarray
  splits: dict[str, tuple[np.ndarray, np.ndarray]]


def build_vocab(sentences: Iterable[Sequence[str]], *, min_count: int = 5,
                max_size: int | None = None) -> tuple[Vocabulary, np.ndarray]:
  """Words seen ``min_count`` times, most frequent first (ties alphabetical), and counts."""
  if min_count < 1:
    raise ValueError(f"data.min_count must be >= 1; got {min_count}")
  counts = collections.Counter(w for s in sentences for w in s)
  words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
  if max_size:
    words = words[:max_size]
  if not words:
    raise ValueError(f"no word occurs data.min_count={min_count} times")
  return Vocabulary(words, unk=None), np.asarray([counts[w] for w in words], np.int64)


def encode(sentences: Iterable[Sequence[str]], vocab: Vocabulary) -> tuple[np.ndarray,
                                                                           np.ndarray]:
  """``(ids, sentence)``: the in-vocabulary words of every sentence, flattened, and the index
  of the sentence each comes from (out-of-vocabulary words are dropped)."""
  ids, sentence = [], []
  for n, s in enumerate(sentences):
    known = [vocab.ids[w] for w in s if w in vocab.ids]
    ids.extend(known)
    sentence.extend([n] * len(known))
  return np.asarray(ids, np.int32), np.asarray(sentence, np.int32)


def build_corpus(splits: dict[str, Sequence[Sequence[str]]], *, min_count: int = 5,
                 max_size: int | None = None, vocab: Vocabulary | None = None,
                 counts: np.ndarray | None = None) -> Corpus:
  """A ``Corpus`` from tokenized sentences per split (the vocabulary from ``train``)."""
  if vocab is None:
    vocab, counts = build_vocab(splits["train"], min_count=min_count, max_size=max_size)
  return Corpus(vocab=vocab, counts=np.asarray(counts),
                splits={s: encode(x, vocab) for s, x in splits.items()})


def keep_probability(counts: np.ndarray, sample: float) -> np.ndarray:
  """``[V]``: the chance an occurrence survives subsampling (1 everywhere if ``sample`` is 0)."""
  if sample <= 0:
    return np.ones(len(counts))
  f = counts / counts.sum()
  return np.minimum((np.sqrt(f / sample) + 1.0) * sample / f, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
  """``P_n(w) ∝ count(w)^power``."""
  p = np.asarray(counts, np.float64) ** power
  return p / p.sum()


def noise_table(counts: np.ndarray, power: float = 0.75, size: int = 1_000_000) -> np.ndarray:
  """``word2vec.c``'s unigram table: word ``w`` fills ``≈ size * P_n(w)`` slots, in order, so a
  uniform index into it draws from ``P_n``."""
  edges = np.cumsum(noise_distribution(counts, power))
  slots = (np.arange(size) + 0.5) / size
  return np.minimum(np.searchsorted(edges, slots), len(counts) - 1).astype(np.int32)


def windows(ids: np.ndarray, sentence: np.ndarray, keep: np.ndarray, window: int,
            rng: np.random.Generator) -> np.ndarray:
  """``[N, 2 * window]`` context ids (``-1``: none) of every kept position, and the kept
  centers, as ``(centers [N], contexts [N, 2W])`` after subsampling with ``keep [len(ids)]``
  and a dynamic radius per center."""
  ids, sentence = ids[keep], sentence[keep]
  n = len(ids)
  radius = rng.integers(1, window + 1, n)
  contexts = np.full((n, 2 * window), -1, np.int32)
  pos = np.arange(n)
  for d in range(1, window + 1):
    for col, other in ((window - d, pos - d), (window + d - 1, pos + d)):
      ok = (other >= 0) & (other < n) & (radius >= d)
      ok[ok] &= sentence[other[ok]] == sentence[ok]
      contexts[ok, col] = ids[other[ok]]
  return ids, contexts


class PairBatches(EpochBatches):
  """Shuffled training examples of one split, epoch after epoch (see the module docstring)."""

  def __init__(self, corpus: Corpus, split: str, batch_size: int, *, mode: str = "skipgram",
               window: int = 5, sample: float = 1e-3, seed: int = 0, shuffle: bool = True):
    if mode not in MODES:
      raise ValueError(f"model.mode must be one of {list(MODES)}; got {mode!r}")
    for key, value in (("train.batch_size", batch_size), ("data.window", window)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive int; got {value!r}")
    self.ids, self.sentence = corpus.splits[split]
    self.keep = keep_probability(corpus.counts, sample)
    self.batch_size, self.mode, self.window = batch_size, mode, window
    self.sample, self.seed, self.shuffle = sample, seed, shuffle
    self.epoch, self.position = 0, 0
    self._cache: tuple[int, dict[str, np.ndarray]] | None = None
    if len(self) == 0:
      raise ValueError(f"{split}: {self._examples(0)['targets'].shape[0]} examples are fewer "
                       f"than train.batch_size={batch_size}")

  def _examples(self, epoch: int) -> dict[str, np.ndarray]:
    if self._cache is not None and self._cache[0] == epoch:
      return self._cache[1]
    rng = np.random.default_rng([self.seed, epoch])
    keep = rng.random(len(self.ids)) < self.keep[self.ids]
    centers, contexts = windows(self.ids, self.sentence, keep, self.window, rng)
    if self.mode == "skipgram":
      rows, cols = np.nonzero(contexts >= 0)
      out = {"inputs": centers[rows], "targets": contexts[rows, cols]}
    else:
      has = (contexts >= 0).any(1)
      contexts = contexts[has]
      out = {"inputs": np.maximum(contexts, 0), "input_mask": (contexts >= 0).astype(np.float32),
             "targets": centers[has]}
    if self.shuffle:
      perm = rng.permutation(len(out["targets"]))
      out = {k: v[perm] for k, v in out.items()}
    self._cache = (epoch, out)
    return out

  def num_batches(self, epoch: int) -> int:
    """Batches in ``epoch`` (the count varies a little between epochs)."""
    return len(self._examples(epoch)["targets"]) // self.batch_size

  def batch(self, epoch: int, k: int) -> dict[str, np.ndarray]:
    ex = self._examples(epoch)
    part = slice(k * self.batch_size, (k + 1) * self.batch_size)
    return {key: value[part] for key, value in ex.items()}


def suffix_analogies(vocab: Vocabulary, *, suffixes: Sequence[str] = ("s", "ed", "ing"),
                     top: int = 5000, min_stem: int = 4,
                     per_suffix: int = 40) -> dict[str, list[tuple[str, str]]]:
  """Word pairs ``(w, w + suffix)`` with both among the ``top`` most frequent words (alphabetic
  stems of at least ``min_stem`` letters), at most ``per_suffix`` per suffix, most frequent
  stems first: morphological relations taken from the corpus itself (Mikolov et al.'s syntactic
  analogy categories: plurals, past tense, present participle). A verb suffix (``ed``, ``ing``)
  needs the whole paradigm ``w, w+s, w+ed, w+ing`` in the ``top`` words, which drops accidental
  pairs such as *unit* / *united*. Any two pairs of one suffix make a question
  ``a : a' :: b : ?``. A few pairs can still be accidental."""
  words = vocab.tokens[:top]
  known = set(words)
  verb = lambda w: all(w + x in known for x in ("s", "ed", "ing"))
  out = {}
  for suffix in suffixes:
    pairs = [(w, w + suffix) for w in words
             if len(w) >= min_stem and w.isalpha() and w + suffix in known
             and (suffix not in ("ed", "ing") or verb(w))]
    out[suffix] = pairs[:per_suffix]
  return out
