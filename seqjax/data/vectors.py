"""Pretrained word vectors in GloVe or word2vec *text* format, aligned with a vocabulary.

GloVe: one ``word v_1 ... v_D`` line per word. word2vec text (``-binary 0``): the same after a
``count D`` header line. ``.gz`` files are read directly.
"""

from __future__ import annotations

import gzip
import os
from typing import Any

import numpy as np

from seqjax.data.vocab import Vocabulary


def load_vectors(path: str, vocab: Vocabulary, *, lowercase: bool = False, scale: float = 0.1,
                 seed: int = 0, pad_id: int | None = 0) -> tuple[np.ndarray, int]:
  """``(table [len(vocab), D] float32, number of vocabulary words found)``.

  Words of ``vocab`` missing from the file get ``N(0, scale^2)`` rows (seeded); the ``pad_id``
  row is zero. With ``lowercase`` a file word also fills the row of its lowercased form unless
  that form has its own line. Raises ``ValueError`` naming the line of a malformed row.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"data.pretrained_vectors={path!r} is not a file")
  opener = gzip.open if path.endswith(".gz") else open
  table: np.ndarray | None = None
  found = np.zeros(len(vocab), bool)
  exact = np.zeros(len(vocab), bool)
  dim = None
  with opener(path, "rt", encoding="utf-8", errors="replace") as f:
    for n, line in enumerate(f, start=1):
      parts = line.rstrip("\n").rstrip(" ").split(" ")
      if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
        dim = int(parts[1])  # word2vec header
        continue
      if len(parts) < 2:
        if not line.strip():
          continue
        raise ValueError(f"{path}:{n}: expected 'word v1 ... vD'")
      if dim is None:
        dim = len(parts) - 1
      if len(parts) - 1 != dim:
        raise ValueError(f"{path}:{n}: {len(parts) - 1} values; expected {dim}")
      if table is None:
        table = np.random.default_rng(seed).normal(0.0, scale, (len(vocab), dim))
        table = table.astype(np.float32)
      word = parts[0]
      for key, is_exact in ((word, True), (word.lower(), False)):
        i = vocab.ids.get(key)
        if i is None or exact[i] or (not is_exact and not lowercase):
          continue
        try:
          table[i] = np.asarray(parts[1:], np.float32)
        except ValueError:
          raise ValueError(f"{path}:{n}: values are not numbers") from None
        found[i], exact[i] = True, is_exact
  if table is None:
    raise ValueError(f"{path}: no vectors")
  if pad_id is not None:
    table[pad_id] = 0.0
  return table, int(found.sum())


def pretrained_vectors(config: Any, vocab: Vocabulary) -> tuple[np.ndarray | None, str]:
  """``([V, D] rows for vocab, a note for the log)`` from an experiment config's
  ``data.pretrained_vectors`` (``None`` when unset), checked against ``model.embed_size``."""
  d = config.data
  if not d.pretrained_vectors:
    return None, ""
  table, found = load_vectors(d.pretrained_vectors, vocab, lowercase=d.lowercase_vectors,
                              seed=config.seed)
  if table.shape[1] != config.model.embed_size:
    raise ValueError(f"data.pretrained_vectors has {table.shape[1]}-dim vectors but "
                     f"model.embed_size is {config.model.embed_size}")
  return table, f"; pretrained vectors: {found:,} of {len(vocab):,} words found"
