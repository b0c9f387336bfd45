"""Vocabularies and tokenizers for text data, saved as JSON next to checkpoints."""

from __future__ import annotations

import collections
import json
from typing import Callable, Iterable, Sequence

import numpy as np

UNK = "<unk>"
EOS = "<eos>"


def whitespace_eos(text: str) -> list[str]:
  """Tokens separated by whitespace and an ``<eos>`` at the end of every line of ``text``.

  The reader of Zaremba et al. / the TF PTB tutorial; on PTB's character files (symbols separated
  by spaces, ``_`` between words) it gives characters.
  """
  return [token for line in text.split("\n") for token in line.split() + [EOS]]


def characters(text: str) -> list[str]:
  """Every character is a token, newlines included (char-rnn)."""
  return list(text)


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "whitespace_eos": whitespace_eos,
    "characters": characters,
}


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
  if name not in TOKENIZERS:
    raise ValueError(f"data.tokenizer must be one of {sorted(TOKENIZERS)}; got {name!r}")
  return TOKENIZERS[name]


class Vocabulary:
  """A fixed token <-> id map. Ids follow the order of ``tokens``."""

  def __init__(self, tokens: Sequence[str], unk: str | None = UNK):
    self.tokens = list(tokens)
    self.ids = {t: i for i, t in enumerate(self.tokens)}
    if len(self.ids) != len(self.tokens):
      raise ValueError("Vocabulary: tokens must be unique")
    if unk is not None and unk not in self.ids:
      raise ValueError(f"Vocabulary: the unknown token {unk!r} is not among the tokens")
    self.unk = unk

  @classmethod
  def build(cls, tokens: Iterable[str], *, min_freq: int = 1, max_size: int | None = None,
            specials: Sequence[str] = (), unk: str | None = UNK) -> "Vocabulary":
    """Specials first, then tokens by decreasing count (ties alphabetical).

    ``unk`` is added as a special when it is not in the data; ``None`` means every token must be
    known at encoding time (character vocabularies).
    """
    counts = collections.Counter(tokens)
    ordered = list(specials)
    if unk is not None and unk not in ordered and unk not in counts:
      ordered.append(unk)
    seen = set(ordered)
    for token, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
      if count >= min_freq and token not in seen:
        ordered.append(token)
        seen.add(token)
    if max_size is not None:
      ordered = ordered[:max_size]
      if unk is not None and unk not in ordered:
        ordered[-1] = unk
    return cls(ordered, unk=unk)

  def __len__(self) -> int:
    return len(self.tokens)

  def encode(self, tokens: Iterable[str]) -> np.ndarray:
    if self.unk is None:
      try:
        return np.asarray([self.ids[t] for t in tokens], np.int32)
      except KeyError as e:
        raise ValueError(f"Vocabulary.encode: token {e.args[0]!r} is not in the vocabulary "
                         "(it has no unknown token)") from None
    unk = self.ids[self.unk]
    return np.asarray([self.ids.get(t, unk) for t in tokens], np.int32)

  def decode(self, ids: Iterable[int]) -> list[str]:
    return [self.tokens[int(i)] for i in ids]

  def to_json(self) -> dict:
    return {"tokens": self.tokens, "unk": self.unk}

  @classmethod
  def from_json(cls, data: dict) -> "Vocabulary":
    return cls(data["tokens"], unk=data["unk"])

  def save(self, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
      json.dump(self.to_json(), f)

  @classmethod
  def load(cls, path: str) -> "Vocabulary":
    with open(path, encoding="utf-8") as f:
      return cls.from_json(json.load(f))
