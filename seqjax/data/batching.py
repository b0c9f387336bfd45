"""``BucketedBatches``: the one length-bucketed batcher, with a checkpointable position.

Its epoch ``e`` is a pure function of ``(seed, e)`` and it serves batches through a grain
``MapDataset`` (random access), so its position is one JSON-able dict and a resumed run sees
the same batches. Every process of a multi-host run computes the same global batches and pads
only its own rows, to the global batch's widths.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import grain
import numpy as np

# pad(split, indices, rows, widths) -> batch
Pad = Callable[[Any, np.ndarray, int, Sequence[int]], dict]


def round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


class BucketedBatches:
  """Length-bucketed, padded batches of one split, epoch after epoch, through grain: the one
  batcher of every task whose examples have variable lengths (text classification, tagging,
  sentence pairs; ``text_batches``, ``tag_batches``, ``pair_batches`` are uses of it).

  ``lengths`` gives each example's length along each padded axis (``[n]``, or ``[n, k]`` for
  ``k`` axes, e.g. a pair's source and target); examples are bucketed by the largest. ``pad``
  makes one batch: ``pad(split, indices, rows, widths)`` pads examples ``indices`` into ``rows``
  rows (weight-0 filler after them) of ``widths`` steps per axis, where each width is the
  batch's longest length along that axis rounded up to ``pad_multiple`` and at least
  ``min_length`` (so only a few shapes are compiled).

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

  def __init__(self, split: Any, batch_size: int, *, pad: Pad, lengths: np.ndarray,
               shuffle: bool, seed: int = 0, bucket_chunk: int = 100, pad_multiple: int = 8,
               min_length: int = 1, shard: Any = None):
    for key, value in (("batch_size", batch_size), ("bucket_chunk", bucket_chunk),
                       ("pad_multiple", pad_multiple), ("min_length", min_length)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batches: {key} must be a positive int; got {value!r}")
    if shuffle and len(split) < batch_size:
      raise ValueError(f"batches: {len(split)} training examples are fewer than "
                       f"batch_size={batch_size}")
    self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
    self.bucket_chunk, self.pad_multiple, self.min_length = bucket_chunk, pad_multiple, min_length
    self.pad = pad
    self.axis_lengths = np.asarray(lengths, np.int64).reshape(len(split), -1)
    self.lengths = self.axis_lengths.max(axis=1)  # what examples are bucketed by
    self.rows = slice(0, batch_size)
    if shard is not None and shard.shard_count > 1:
      if batch_size % shard.shard_count:
        raise ValueError(f"batches: batch_size={batch_size} must be divisible by the "
                         f"{shard.shard_count} processes")
      per = batch_size // shard.shard_count
      self.rows = slice(shard.shard_index * per, (shard.shard_index + 1) * per)
    self.epoch, self.position = 0, 0
    self._epoch_ds: tuple[int, Any] | None = None

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
    """This process's rows of the global batch ``indices``, as wide as the global batch."""
    longest = self.axis_lengths[indices].max(axis=0)
    widths = tuple(max(round_up(int(n), self.pad_multiple), self.min_length) for n in longest)
    return self.pad(self.split, indices[self.rows], self.rows.stop - self.rows.start, widths)

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
      raise ValueError(f"batches.set_state: position {position} outside [0, {len(self)})")
    self.epoch, self.position = epoch, position
