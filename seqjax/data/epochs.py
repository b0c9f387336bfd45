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
