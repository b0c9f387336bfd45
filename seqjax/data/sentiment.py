"""Text-classification data: tokenize, build the vocabulary, encode, bucket and pad.

``load_dataset`` prepares a TFDS builder of ``seqjax.data.reviews`` and reads every split
back through grain; ``text_batches`` serves padded, length-bucketed batches
(``seqjax.data.batching.BucketedBatches``).

A batch is ``tokens: [B, T] int32`` (0 = ``<pad>`` after each sequence), ``lengths: [B]``,
``mask: [B, T]`` (1.0 at ``t < length``), ``labels: [B]`` and ``weights: [B]`` (1 for real examples, 0 for the filler rows that keep an
evaluation batch full). ``T`` is the longest length in the batch rounded up to
``pad_multiple`` (so only a few shapes are compiled) and at least ``min_length``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Sequence

import grain
import numpy as np

from seqjax.data import registry, reviews
from seqjax.data.batching import BucketedBatches, round_up
from seqjax.data.vocab import Vocabulary

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)  # ids 0, 1, 2, 3
PAD_ID, UNK_ID = 0, 1

_WORDS = re.compile(r"[\w']+|[^\w\s]")


def whitespace(text: str) -> list[str]:
  """Split on whitespace (SST and GLUE text is already PTB-tokenized)."""
  return text.split()


def words(text: str) -> list[str]:
  """Runs of word characters (apostrophes kept) and single punctuation marks: raw text such as
  IMDB reviews (``"isn't great!"`` -> ``["isn't", "great", "!"]``)."""
  return _WORDS.findall(text)


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"whitespace": whitespace, "words": words}
TRUNCATE = ("head", "tail")


@dataclasses.dataclass(frozen=True)
class TextOptions:
  """How text becomes ids. ``max_length`` counts the ``<s>``/``</s>`` added by
  ``add_bos_eos``; ``truncate="head"`` keeps the first tokens, ``"tail"`` the last."""
  tokenizer: str = "whitespace"
  lowercase: bool = False
  add_bos_eos: bool = False
  max_length: int = 0  # 0: no truncation
  truncate: str = "head"

  def __post_init__(self):
    if self.tokenizer not in TOKENIZERS:
      raise ValueError(f"data.tokenizer must be one of {sorted(TOKENIZERS)}; "
                       f"got {self.tokenizer!r}")
    if self.truncate not in TRUNCATE:
      raise ValueError(f"data.truncate must be one of {list(TRUNCATE)}; got {self.truncate!r}")
    if self.max_length < 0 or (self.max_length and self.max_length < 1 + 2 * self.add_bos_eos):
      raise ValueError(f"data.max_length must be 0 (no limit) or at least "
                       f"{1 + 2 * self.add_bos_eos}; got {self.max_length}")

  def tokenize(self, text: str) -> list[str]:
    tokens = TOKENIZERS[self.tokenizer](text.lower() if self.lowercase else text)
    if not tokens:
      raise ValueError(f"empty sentence: {text!r} has no tokens")
    return tokens

  def encode(self, vocab: Vocabulary, text: str) -> np.ndarray:
    """``text -> int32 ids``, with ``<s>``/``</s>`` and truncation as configured."""
    ids = vocab.encode(self.tokenize(text))
    room = self.max_length - 2 * self.add_bos_eos if self.max_length else len(ids)
    ids = ids[:room] if self.truncate == "head" else ids[max(len(ids) - room, 0):]
    if self.add_bos_eos:
      ids = np.concatenate([[vocab.ids[BOS]], ids, [vocab.ids[EOS]]]).astype(np.int32)
    return ids


def build_vocab(texts: Sequence[str], options: TextOptions, *, min_freq: int = 1,
                max_size: int | None = None) -> Vocabulary:
  """``<pad>`` = 0, ``<unk>`` = 1, ``<s>``, ``</s>``, then tokens by decreasing count that occur
  at least ``min_freq`` times, ``max_size`` entries in all."""
  if min_freq < 1:
    raise ValueError(f"data.min_freq must be >= 1; got {min_freq}")
  tokens = (t for text in texts for t in options.tokenize(text))
  return Vocabulary.build(tokens, min_freq=min_freq, max_size=max_size, specials=SPECIALS,
                          unk=UNK)


@dataclasses.dataclass
class Split:
  """One split: ``ids`` (one int32 array per example) and ``labels`` (``-1``: unlabelled)."""
  ids: list[np.ndarray]
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.ids)

  @property
  def labelled(self) -> bool:
    return bool(len(self.labels)) and bool(np.all(self.labels >= 0))


@dataclasses.dataclass
class Dataset:
  vocab: Vocabulary
  num_classes: int
  splits: dict[str, Split]
  label_names: list[str]


def prepare(name: str, *, data_dir: str | None = None, manual_dir: str | None = None):
  """Prepares (reading ``manual_dir`` or downloading) the TFDS builder of dataset ``name``."""
  return registry.prepare(name, kind=registry.CLASSIFICATION, data_dir=data_dir,
                          manual_dir=manual_dir)


def read_split(builder, split: str) -> tuple[list[str], np.ndarray]:
  """Texts and labels of a split, in file order, read through grain."""
  source = builder.as_data_source(split=split)
  examples = list(grain.MapDataset.source(source))
  order = np.argsort([e["index"] for e in examples], kind="stable")
  texts = [examples[i]["text"].decode("utf-8") for i in order]
  labels = np.asarray([examples[i]["label"] for i in order], np.int32)
  return texts, labels


def holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """``(keep, held)`` index arrays: a seeded random ``fraction`` of ``range(n)`` held out."""
  if not 0.0 < fraction < 1.0:
    raise ValueError(f"data.validation_holdout must be in (0, 1); got {fraction}")
  perm = np.random.default_rng(seed).permutation(n)
  k = int(round(n * fraction))
  return np.sort(perm[k:]), np.sort(perm[:k])


def load_dataset(name: str, options: TextOptions, *, data_dir: str | None = None,
                 manual_dir: str | None = None, vocab: Vocabulary | None = None,
                 min_freq: int = 1, max_vocab: int | None = None,
                 validation_holdout: float = 0.0, seed: int = 0) -> Dataset:
  """Every split of ``name`` encoded with ``vocab`` (built from train unless given).

  ``validation_holdout > 0`` makes ``validation`` a seeded random fraction of train (removed
  from train), for datasets without a validation split (IMDB) or to keep a dev set untouched.
  """
  builder = prepare(name, data_dir=data_dir, manual_dir=manual_dir)
  num_classes = registry.get(name).num_classes
  raw = {s: read_split(builder, s) for s in builder.info.splits}
  if validation_holdout:
    texts, labels = raw["train"]
    keep, held = holdout(len(texts), validation_holdout, seed)
    raw["train"] = ([texts[i] for i in keep], labels[keep])
    raw["validation"] = ([texts[i] for i in held], labels[held])
  if "validation" not in raw:
    raise ValueError(f"{name} has no validation split; set data.validation_holdout (e.g. 0.1)")
  for split, (texts, labels) in raw.items():
    bad = labels[(labels >= num_classes) | (labels < -1)]
    if bad.size:
      raise ValueError(f"{name} {split}: unknown label {int(bad[0])} (classes are "
                       f"0..{num_classes - 1})")
  if vocab is None:
    vocab = build_vocab(raw["train"][0], options, min_freq=min_freq, max_size=max_vocab)
  splits = {}
  for split, (texts, labels) in raw.items():
    ids = []
    for n, text in enumerate(texts):
      try:
        ids.append(options.encode(vocab, text))
      except ValueError as e:
        raise ValueError(f"{name} {split} example {n}: {e}") from None
    splits[split] = Split(ids=ids, labels=labels)
  return Dataset(vocab=vocab, num_classes=num_classes, splits=splits,
                 label_names=reviews.LABEL_NAMES[num_classes])


def pad_batch(ids: Sequence[np.ndarray], labels: Sequence[int], *, batch_size: int | None = None,
              pad_multiple: int = 1, min_length: int = 1) -> dict[str, np.ndarray]:
  """Right-pads ``ids`` into one batch; rows past ``len(ids)`` (up to ``batch_size``) are
  filler with weight 0 (one ``<pad>`` token, label 0)."""
  n = len(ids)
  rows = batch_size or n
  if (n == 0 and not batch_size) or n > rows:
    raise ValueError(f"pad_batch: {n} examples for a batch of {rows}")
  lengths = np.ones(rows, np.int32)
  if n:
    lengths[:n] = [len(x) for x in ids]
  if lengths.min() < 1:
    raise ValueError("pad_batch: an example has no tokens")
  width = max(round_up(int(lengths.max()), pad_multiple), min_length)
  tokens = np.full((rows, width), PAD_ID, np.int32)
  for i, x in enumerate(ids):
    tokens[i, :len(x)] = x
  mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.float32)
  out_labels = np.zeros(rows, np.int32)
  out_labels[:n] = labels
  weights = np.zeros(rows, np.float32)
  weights[:n] = 1.0
  return {"tokens": tokens, "lengths": lengths, "mask": mask, "labels": out_labels,
          "weights": weights}


def pad_examples(split: Split, indices: np.ndarray, rows: int,
                 widths: Sequence[int]) -> dict[str, np.ndarray]:
  """``BucketedBatches``' ``pad`` for text classification: ``pad_batch`` of ``indices``."""
  return pad_batch([split.ids[i] for i in indices], split.labels[indices], batch_size=rows,
                   min_length=widths[0])


def text_batches(split: Split, batch_size: int, **options: Any) -> BucketedBatches:
  """Length-bucketed batches of a classification split (see the module docstring);
  ``options`` are ``BucketedBatches``' (``shuffle``, ``seed``, ``bucket_chunk``,
  ``pad_multiple``, ``min_length``, ``shard``)."""
  lengths = np.asarray([len(x) for x in split.ids], np.int64)
  return BucketedBatches(split, batch_size, pad=pad_examples, lengths=lengths, **options)
