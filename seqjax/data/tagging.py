"""Token-level tagging data (synchronous many-to-many): words, their characters and one tag per
word, bucketed and padded into batches.

``load_dataset`` prepares a TFDS builder of ``seqjax.data.conllu`` (from a local directory or
downloaded) and reads every split back through grain. Vocabularies come from the training
split: words (``<pad>`` = 0, ``<unk>`` = 1; optionally lowercased, kept when seen
``min_freq`` times), characters (``<pad>`` = 0, ``<unk>`` = 1, every training character) and
tags (no specials; the tag set is fixed by the training split and an unknown tag in another
split is an error).

A batch (``tag_batches``, a use of ``seqjax.data.batching.BucketedBatches``, so it buckets,
shards over processes and resumes the same way) holds ``tokens [B, T]``, ``lengths [B]``, ``mask [B, T]``
(1.0 at real words), ``tags [B, T]`` (0 at padding), ``chars [B, T, C]`` and ``char_lengths
[B, T]`` (each word's characters, cut at ``max_word_length``; 0 at padding), ``unknown [B, T]``
(1.0 where the word is not in the training vocabulary, for out-of-vocabulary accuracy) and
``weights [B]`` (0 for filler rows). Padding never counts: every metric multiplies by
``mask * weights``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import grain
import numpy as np

from seqjax.data import registry
from seqjax.data.batching import BucketedBatches, round_up
from seqjax.data.vocab import Vocabulary

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
TAG_FIELDS = ("upos", "xpos")


@dataclasses.dataclass
class TagSplit:
  """One split: per sentence the word ids, tag ids, character ids (one array per word) and
  the out-of-vocabulary flags (against the full training vocabulary, before ``min_freq``)."""
  ids: list[np.ndarray]
  tags: list[np.ndarray]
  chars: list[list[np.ndarray]]
  unknown: list[np.ndarray]
  words: list[tuple[str, ...]]

  def __len__(self) -> int:
    return len(self.ids)

  @property
  def num_words(self) -> int:
    return int(sum(len(x) for x in self.ids))


@dataclasses.dataclass
class TagDataset:
  vocab: Vocabulary
  char_vocab: Vocabulary
  tag_names: list[str]
  splits: dict[str, TagSplit]


def read_split(builder, split: str, tag_field: str) -> tuple[list[tuple[str, ...]],
                                                              list[tuple[str, ...]]]:
  """Words and tags of every sentence of a split, in file order, read through grain."""
  examples = list(grain.MapDataset.source(builder.as_data_source(split=split)))
  examples.sort(key=lambda e: int(e["index"]))
  decode = lambda xs: tuple(x.decode("utf-8") for x in xs)
  return ([decode(e["words"]) for e in examples], [decode(e[tag_field]) for e in examples])


def encode_chars(word: str, char_vocab: Vocabulary, max_word_length: int) -> np.ndarray:
  """A word's character ids, the first ``max_word_length`` characters."""
  return char_vocab.encode(list(word[:max_word_length]))


def encode_split(words: Sequence[tuple[str, ...]], tags: Sequence[tuple[str, ...]] | None,
                 vocab: Vocabulary, char_vocab: Vocabulary, tag_vocab: dict[str, int], *,
                 lowercase: bool, max_word_length: int, train_words: set[str] | None = None,
                 name: str = "split") -> TagSplit:
  """Sentences (and their tags, or None for untagged text) as a ``TagSplit``."""
  ids, tag_ids, chars, unknown = [], [], [], []
  for n, sentence in enumerate(words):
    if not sentence:
      raise ValueError(f"{name} sentence {n}: no words")
    keys = [w.lower() for w in sentence] if lowercase else list(sentence)
    ids.append(vocab.encode(keys))
    seen = train_words if train_words is not None else vocab.ids
    unknown.append(np.asarray([k not in seen for k in keys], np.float32))
    chars.append([encode_chars(w, char_vocab, max_word_length) for w in sentence])
    if tags is None:
      tag_ids.append(np.zeros(len(sentence), np.int32))
      continue
    if len(tags[n]) != len(sentence):
      raise ValueError(f"{name} sentence {n}: {len(sentence)} words but {len(tags[n])} tags")
    try:
      tag_ids.append(np.asarray([tag_vocab[t] for t in tags[n]], np.int32))
    except KeyError as e:
      raise ValueError(f"{name} sentence {n}: tag {e.args[0]!r} is not in the training "
                       f"split's tag set {sorted(tag_vocab)}") from None
  return TagSplit(ids=ids, tags=tag_ids, chars=chars, unknown=unknown, words=list(words))


def load_dataset(name: str, *, tag_field: str = "upos", data_dir: str | None = None,
                 manual_dir: str | None = None, lowercase: bool = True, min_freq: int = 1,
                 max_word_length: int = 20, vocabs: tuple | None = None) -> TagDataset:
  """Every split of ``name`` (``seqjax.data.registry``, kind ``tagging``) encoded; ``vocabs`` =
  ``(vocab, char_vocab, tag_names)`` of a saved run, else built from train."""
  if tag_field not in TAG_FIELDS:
    raise ValueError(f"data.tag_field must be one of {list(TAG_FIELDS)}; got {tag_field!r}")
  if min_freq < 1 or max_word_length < 1:
    raise ValueError(f"data.min_freq and data.max_word_length must be >= 1; got "
                     f"{min_freq}, {max_word_length}")
  builder = registry.prepare(name, kind=registry.TAGGING, data_dir=data_dir,
                             manual_dir=manual_dir)
  raw = {s: read_split(builder, s, tag_field) for s in builder.info.splits}
  train_words, train_tags = raw["train"]
  keys = [w.lower() if lowercase else w for s in train_words for w in s]
  if vocabs is None:
    vocab = Vocabulary.build(keys, min_freq=min_freq, specials=(PAD, UNK), unk=UNK)
    char_vocab = Vocabulary.build((c for s in train_words for w in s for c in w),
                                  specials=(PAD, UNK), unk=UNK)
    tag_names = sorted({t for s in train_tags for t in s})
  else:
    vocab, char_vocab, tag_names = vocabs
  tag_vocab = {t: i for i, t in enumerate(tag_names)}
  seen = set(keys)
  splits = {s: encode_split(w, t, vocab, char_vocab, tag_vocab, lowercase=lowercase,
                            max_word_length=max_word_length, train_words=seen,
                            name=f"{name} {s}")
            for s, (w, t) in raw.items()}
  return TagDataset(vocab=vocab, char_vocab=char_vocab, tag_names=tag_names, splits=splits)


def char_width(split: TagSplit, indices: Sequence[int], multiple: int = 4) -> int:
  """The character axis of a batch of sentences ``indices``: the longest word, rounded up."""
  longest = max((len(c) for i in indices for c in split.chars[i]), default=1)
  return round_up(max(longest, 1), multiple)


def pad_tagged(split: TagSplit, indices: Sequence[int], *, batch_size: int, width: int,
               chars_width: int | None = None) -> dict[str, np.ndarray]:
  """Sentences ``indices`` of ``split`` as one batch of ``batch_size`` rows (filler rows after
  them have weight 0), ``width`` steps and ``chars_width`` characters per word (by default
  ``char_width`` of these sentences)."""
  n = len(indices)
  if n > batch_size:
    raise ValueError(f"pad_tagged: {n} sentences for a batch of {batch_size}")
  lengths = np.zeros(batch_size, np.int32)
  lengths[:n] = [len(split.ids[i]) for i in indices]
  lengths[n:] = 1
  if lengths.max() > width:
    raise ValueError(f"pad_tagged: a sentence of {lengths.max()} words for width {width}")
  chars_width = chars_width or char_width(split, indices)
  tokens = np.full((batch_size, width), PAD_ID, np.int32)
  tags = np.zeros((batch_size, width), np.int32)
  unknown = np.zeros((batch_size, width), np.float32)
  chars = np.full((batch_size, width, chars_width), PAD_ID, np.int32)
  char_lengths = np.zeros((batch_size, width), np.int32)
  for row, i in enumerate(indices):
    length = len(split.ids[i])
    tokens[row, :length] = split.ids[i]
    tags[row, :length] = split.tags[i]
    unknown[row, :length] = split.unknown[i]
    for t, c in enumerate(split.chars[i]):
      chars[row, t, :len(c)] = c
      char_lengths[row, t] = len(c)
  mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.float32)
  weights = np.zeros(batch_size, np.float32)
  weights[:n] = 1.0
  mask *= weights[:, None]
  return {"tokens": tokens, "lengths": lengths, "mask": mask, "tags": tags, "chars": chars,
          "char_lengths": char_lengths, "unknown": unknown, "weights": weights}


def tag_batches(split: TagSplit, batch_size: int, **options: Any) -> BucketedBatches:
  """Length-bucketed batches of tagged sentences (``seqjax.data.batching.BucketedBatches``;
  ``options`` are its ``shuffle``, ``seed``, ``bucket_chunk``, ``pad_multiple``, ``min_length``,
  ``shard``). The character axis is the longest word of the whole split, so a compiled step
  sees one character width."""
  chars_width = char_width(split, range(len(split)))

  def pad(split, indices, rows, widths):
    return pad_tagged(split, indices, batch_size=rows, width=widths[0], chars_width=chars_width)

  lengths = np.asarray([len(x) for x in split.ids], np.int64)
  return BucketedBatches(split, batch_size, pad=pad, lengths=lengths, **options)
