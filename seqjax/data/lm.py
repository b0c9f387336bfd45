"""Language-model data: a corpus as one id stream per split, and the truncated-BPTT batcher.

The stream (Zaremba et al. 2014; the TF PTB tutorial): the split's tokens concatenated, cut into
``batch_size`` contiguous rows, each row read left to right in ``bptt``-token windows, so row
``b`` of window ``k+1`` continues row ``b`` of window ``k`` and the RNN carry can be passed on.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import grain
import numpy as np

from seqjax.data import registry
from seqjax.data.vocab import Vocabulary, get_tokenizer

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class Corpus:
  vocab: Vocabulary
  splits: dict[str, np.ndarray]  # split name -> int32 ids


def prepare(name: str, *, data_dir: str | None = None, manual_dir: str | None = None):
  """Downloads (or reads ``manual_dir``) and prepares the TFDS builder of corpus ``name``."""
  return registry.prepare(name, kind=registry.LM, data_dir=data_dir, manual_dir=manual_dir)


def read_split(builder, split: str) -> list[str]:
  """The split's texts, in corpus order, read through grain from the ArrayRecord files."""
  source = builder.as_data_source(split=split)
  examples = grain.MapDataset.source(source)
  indices = np.fromiter((e["index"] for e in examples), np.int64, count=len(source))
  if not np.array_equal(indices, np.arange(len(source))):
    raise RuntimeError(f"{builder.name} {split}: examples are not in corpus order")
  return [e["text"].decode("utf-8") for e in examples]


def load_corpus(name: str, *, tokenizer: str, data_dir: str | None = None,
                manual_dir: str | None = None, vocab: Vocabulary | None = None,
                max_vocab: int | None = None, unk: str | None = None) -> Corpus:
  """Every split of corpus ``name`` as ids; the vocabulary is built from train unless given.

  ``unk`` names the unknown token (PTB word level: ``"<unk>"``, already in its data); ``None``
  (character level) means every token of validation and test must occur in train.
  """
  builder = prepare(name, data_dir=data_dir, manual_dir=manual_dir)
  tokenize = get_tokenizer(tokenizer)
  tokens = {s: [t for text in read_split(builder, s) for t in tokenize(text)] for s in SPLITS}
  if vocab is None:
    vocab = Vocabulary.build(tokens["train"], max_size=max_vocab, unk=unk)
  return Corpus(vocab=vocab, splits={s: vocab.encode(t) for s, t in tokens.items()})


class LMStream:
  """Truncated-BPTT windows over one id stream; its position is a small JSON-able dict.

  ``ids`` is cut into ``batch_size`` rows of ``n = len(ids) // batch_size`` tokens (the tail
  is dropped, as in the TF tutorial). Window ``k`` has ``inputs = rows[:, k*bptt : k*bptt+bptt]``
  and ``targets`` shifted by one. With ``pad_last=False`` (training) there are
  ``(n - 1) // bptt`` windows, all full; with ``pad_last=True`` (evaluation) the last partial
  window is padded with zeros and ``mask`` marks the real targets, so every target is scored
  once. Each batch has ``reset=True`` at window 0: the carry restarts every epoch.

  ``rows`` keeps only those rows of the ``batch_size`` (global) rows: a process's share in
  multi-process training (``seqjax.parallel.process_rows``), so each row, and the carry that
  follows it, always lives on the same device.
  """

  def __init__(self, ids: np.ndarray, batch_size: int, bptt: int, *, pad_last: bool = False,
               rows: slice | None = None):
    for name, value in (("batch_size", batch_size), ("bptt", bptt)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"LMStream: {name} must be a positive int; got {value!r}")
    ids = np.asarray(ids, np.int32)
    if ids.ndim != 1:
      raise ValueError(f"LMStream: ids must be 1-D; got shape {ids.shape}")
    n = len(ids) // batch_size
    if n < 2:
      raise ValueError(f"LMStream: {len(ids)} tokens are too few for batch_size={batch_size}")
    self.rows = ids[:n * batch_size].reshape(batch_size, n)
    if rows is not None:  # this process's rows of the global batch (seqjax.parallel)
      self.rows = self.rows[rows]
      if not len(self.rows):
        raise ValueError(f"LMStream: rows {rows} select none of the {batch_size} rows")
    self.batch_size, self.bptt, self.pad_last = batch_size, bptt, pad_last
    steps = n - 1
    self.num_windows = -(-steps // bptt) if pad_last else steps // bptt
    if self.num_windows == 0:
      raise ValueError(f"LMStream: rows of {n} tokens are shorter than bptt={bptt}")
    self.epoch, self.window = 0, 0

  def __len__(self) -> int:
    return self.num_windows

  @property
  def tokens_per_epoch(self) -> int:
    return int(self.batch_size * min(self.num_windows * self.bptt, self.rows.shape[1] - 1))

  def batch(self, k: int) -> dict[str, np.ndarray]:
    start = k * self.bptt
    inputs = self.rows[:, start:start + self.bptt]
    targets = self.rows[:, start + 1:start + 1 + self.bptt]
    width = targets.shape[1]
    mask = np.ones((len(self.rows), self.bptt), np.float32)
    if width < self.bptt:
      pad = ((0, 0), (0, self.bptt - width))
      inputs, targets = np.pad(inputs[:, :width], pad), np.pad(targets, pad)
      mask[:, width:] = 0.0
    return {"inputs": inputs, "targets": targets, "mask": mask, "reset": np.asarray(k == 0)}

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    """Endless: epoch after epoch, from the current position."""
    while True:
      batch = self.batch(self.window)
      batch["epoch"] = np.asarray(self.epoch)
      self.window += 1
      if self.window == self.num_windows:
        self.epoch, self.window = self.epoch + 1, 0
      yield batch

  def epoch_batches(self) -> Iterator[dict[str, np.ndarray]]:
    """One pass from window 0 (evaluation); does not move the position."""
    for k in range(self.num_windows):
      yield self.batch(k)

  def get_state(self) -> dict[str, Any]:
    return {"epoch": self.epoch, "window": self.window}

  def set_state(self, state: dict[str, Any]) -> None:
    epoch, window = int(state["epoch"]), int(state["window"])
    if not 0 <= window < self.num_windows:
      raise ValueError(f"LMStream.set_state: window {window} outside [0, {self.num_windows})")
    self.epoch, self.window = epoch, window
