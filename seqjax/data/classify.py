"""Text-classification data: tokenize, build the vocabulary, encode, bucket and pad.

``load_dataset`` prepares a TFDS builder of ``seqjax.data.sentiment`` and reads every split
back through grain; ``Batches`` serves padded, length-bucketed batches through a grain
``MapDataset`` (random access, so its position is one JSON-able dict and a resumed run sees the
same batches).

A batch is ``tokens: [B, T] int32`` (0 = ``<pad>`` after each sequence), ``lengths: [B]``,
``mask: [B, T]`` (1.0 at ``t < length``), ``labels: [B]`` and ``weights: [B]`` (1 for real examples, 0 for the filler rows that keep an
evaluation batch full). ``T`` is the longest length in the batch rounded up to
``pad_multiple`` (so only a few shapes are compiled) and at least ``min_length``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Iterator, Sequence

import grain
import numpy as np

from seqjax.data import builders, sentiment
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
  return builders.prepare(name, sentiment.BUILDERS, data_dir=data_dir, manual_dir=manual_dir)


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
  num_classes = sentiment.BUILDERS[name][2]
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
                 label_names=sentiment.LABEL_NAMES[num_classes])


def round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


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


class Batches:
  """Length-bucketed batches of one split, epoch after epoch, through grain.

  Training order (``shuffle=True``), per epoch ``e``: examples are permuted with seed
  ``(seed, e)``, cut into chunks of ``batch_size * bucket_chunk``, sorted by length inside each
  chunk and cut into batches (the last incomplete one dropped), and the batches permuted. Each
  batch then holds similar lengths, so little compute is spent on padding, while every epoch
  sees a fresh mix. ``bucket_chunk=1`` is plain shuffled batching.

  Evaluation order (``shuffle=False``): the split sorted by length, every example exactly once,
  the last batch filled up with weight-0 rows.

  ``shard`` (``seqjax.parallel.shard_options()``: shard ``i`` of ``n`` processes): every process
  computes the same global batches of ``batch_size`` examples but reads and pads only its rows
  ``[i * batch_size / n, (i + 1) * batch_size / n)``, to the global batch's width, so the
  processes' parts assemble into the global batch.
  """

  def __init__(self, split: Split, batch_size: int, *, shuffle: bool, seed: int = 0,
               bucket_chunk: int = 100, pad_multiple: int = 8, min_length: int = 1,
               shard: Any = None):
    for key, value in (("batch_size", batch_size), ("bucket_chunk", bucket_chunk),
                       ("pad_multiple", pad_multiple), ("min_length", min_length)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Batches: {key} must be a positive int; got {value!r}")
    if shuffle and len(split) < batch_size:
      raise ValueError(f"Batches: {len(split)} training examples are fewer than "
                       f"batch_size={batch_size}")
    self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
    self.bucket_chunk, self.pad_multiple, self.min_length = bucket_chunk, pad_multiple, min_length
    self.lengths = self.example_lengths(split)
    self.rows = slice(0, batch_size)
    if shard is not None and shard.shard_count > 1:
      if batch_size % shard.shard_count:
        raise ValueError(f"Batches: batch_size={batch_size} must be divisible by the "
                         f"{shard.shard_count} processes")
      per = batch_size // shard.shard_count
      self.rows = slice(shard.shard_index * per, (shard.shard_index + 1) * per)
    self.epoch, self.position = 0, 0
    self._epoch_ds: tuple[int, Any] | None = None

  @staticmethod
  def example_lengths(split: Any) -> np.ndarray:
    """The length each example is bucketed by."""
    return np.asarray([len(x) for x in split.ids], np.int64)

  def __len__(self) -> int:
    """Batches per epoch."""
    n = len(self.split)
    return n // self.batch_size if self.shuffle else -(-n // self.batch_size)

  def batch_indices(self, epoch: int) -> list[np.ndarray]:
    """The example indices of every batch of ``epoch``, in order."""
    n, b = len(self.split), self.batch_size
    if not self.shuffle:
      order = np.argsort(self.lengths, kind="stable")
      return [order[i:i + b] for i in range(0, n, b)]
    rng = np.random.default_rng([self.seed, epoch])
    perm = rng.permutation(n)
    chunk = b * self.bucket_chunk
    batches = []
    for start in range(0, n - n % b, chunk):
      part = perm[start:min(start + chunk, n - n % b)]
      part = part[np.argsort(self.lengths[part], kind="stable")]
      batches.extend(part[i:i + b] for i in range(0, len(part) - b + 1, b))
    return [batches[i] for i in rng.permutation(len(batches))]

  def _make(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    local_rows = self.rows.stop - self.rows.start
    if local_rows == self.batch_size:
      return pad_batch([self.split.ids[i] for i in indices], self.split.labels[indices],
                       batch_size=self.batch_size, pad_multiple=self.pad_multiple,
                       min_length=self.min_length)
    width = max(round_up(int(self.lengths[indices].max()), self.pad_multiple), self.min_length)
    mine = indices[self.rows]
    return pad_batch([self.split.ids[i] for i in mine], self.split.labels[mine],
                     batch_size=local_rows, pad_multiple=self.pad_multiple, min_length=width)

  def dataset(self, epoch: int) -> grain.MapDataset:
    """The batches of ``epoch`` as a random-access grain ``MapDataset``."""
    return grain.MapDataset.source(self.batch_indices(epoch)).map(self._make)

  def _epoch_dataset(self, epoch: int) -> grain.MapDataset:
    if self._epoch_ds is None or self._epoch_ds[0] != epoch:
      self._epoch_ds = (epoch, self.dataset(epoch))
    return self._epoch_ds[1]

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    """Endless, from the current position; each batch carries its ``epoch``."""
    while True:
      batch = self._epoch_dataset(self.epoch)[self.position]
      batch["epoch"] = np.asarray(self.epoch)
      self.position += 1
      if self.position == len(self):
        self.epoch, self.position = self.epoch + 1, 0
      yield batch

  def epoch_batches(self) -> Iterator[dict[str, np.ndarray]]:
    """One pass over the split (evaluation); does not move the position."""
    ds = self.dataset(0)
    for i in range(len(ds)):
      yield ds[i]

  def get_state(self) -> dict[str, Any]:
    return {"epoch": self.epoch, "position": self.position}

  def set_state(self, state: dict[str, Any]) -> None:
    epoch, position = int(state["epoch"]), int(state["position"])
    if not 0 <= position < len(self):
      raise ValueError(f"Batches.set_state: position {position} outside [0, {len(self)})")
    self.epoch, self.position = epoch, position
