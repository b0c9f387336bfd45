"""``EpochBatches``: the resumable epoch loop shared by batch sources whose epoch ``e`` is a
pure function of ``(seed, e)`` (``seqjax.data.word2vec.PairBatches``,
``seqjax.data.recsys.SessionParallel``).

A subclass defines ``num_batches(epoch)`` and ``batch(epoch, k)``; iteration is endless, each
batch carries its ``epoch``, and the position ``{"epoch", "position"}`` is what the training loop
checkpoints, so a resumed run sees the same batches.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np


class EpochBatches:
  """Endless, resumable iteration over ``batch(epoch, k)`` for ``k < num_batches(epoch)``."""

  epoch: int = 0
  position: int = 0

  def num_batches(self, epoch: int) -> int:
    raise NotImplementedError

  def batch(self, epoch: int, k: int) -> dict[str, np.ndarray]:
    raise NotImplementedError

  def __len__(self) -> int:
    """Batches in the current epoch."""
    return self.num_batches(self.epoch)

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    while True:
      batch = self.batch(self.epoch, self.position)
      batch["epoch"] = np.asarray(self.epoch)
      self.position += 1
      if self.position >= len(self):
        self.epoch, self.position = self.epoch + 1, 0
      yield batch

  def epoch_batches(self, limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """The batches of epoch 0 (evaluation), at most ``limit``; does not move the position."""
    n = self.num_batches(0)
    for k in range(min(n, limit or n)):
      yield self.batch(0, k)

  def get_state(self) -> dict[str, Any]:
    return {"epoch": self.epoch, "position": self.position}

  def set_state(self, state: dict[str, Any]) -> None:
    epoch, position = int(state["epoch"]), int(state["position"])
    n = self.num_batches(epoch)
    if not 0 <= position < n:
      raise ValueError(f"{type(self).__name__}.set_state: position {position} outside "
                       f"[0, {n})")
    self.epoch, self.position = epoch, position


class ArrayBatches(EpochBatches):
  """Batches of ``batch_size`` rows of equally long arrays (windows, padded series), epoch
  ``e`` shuffled with seed ``(seed, e)`` (or in order). Every batch has ``batch_size`` rows: the
  last one of an epoch is filled with copies of row 0 whose ``weights`` are 0, so every example
  counts once and no result depends on the batch size.

  >>> b = ArrayBatches({"x": np.arange(5)}, 2, shuffle=False)
  >>> [(x["x"].tolist(), x["weights"].tolist()) for x in b.epoch_batches()]
  [([0, 1], [1.0, 1.0]), ([2, 3], [1.0, 1.0]), ([4, 0], [1.0, 0.0])]
  """

  def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, *, shuffle: bool,
               seed: int = 0):
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) != 1 or not min(sizes.values()):
      raise ValueError(f"ArrayBatches: need equally long, non-empty arrays; got {sizes}")
    if batch_size < 1:
      raise ValueError(f"ArrayBatches: batch_size must be >= 1; got {batch_size}")
    self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
    self.size = next(iter(sizes.values()))
    self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

  def num_batches(self, epoch: int) -> int:
    return -(-self.size // self.batch_size)

  def order(self, epoch: int) -> np.ndarray:
    if not self.shuffle:
      return np.arange(self.size)
    return np.random.default_rng([self.seed, epoch]).permutation(self.size)

  def batch(self, epoch: int, k: int) -> dict[str, np.ndarray]:
    rows = self.order(epoch)[k * self.batch_size:(k + 1) * self.batch_size]
    fill = self.batch_size - len(rows)
    weights = np.concatenate([np.ones(len(rows), np.float32), np.zeros(fill, np.float32)])
    rows = np.concatenate([rows, np.zeros(fill, rows.dtype)])
    return {**{k_: v[rows] for k_, v in self.arrays.items()}, "weights": weights}
