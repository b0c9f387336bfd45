"""Metrics to a JSONL file and TensorBoard event files in the workdir (no TensorFlow)."""

from __future__ import annotations

import json
import os
from typing import Any


class MetricWriter:
  """Appends ``{"step": s, "split": name, **metrics}`` lines to ``workdir/metrics.jsonl`` and
  writes the same scalars as ``split/name`` to TensorBoard (tensorboardX). With
  ``active=False`` (every process but the first of a multi-process run) it writes nothing."""

  def __init__(self, workdir: str, tensorboard: bool = True, active: bool = True):
    self.active = active
    if not active:
      return
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._file = open(self.path, "a", encoding="utf-8")
    self._tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
    if not self.active:
      return
    scalars = {k: float(v) for k, v in metrics.items()}
    self._file.write(json.dumps({"step": int(step), "split": split, **scalars}) + "\n")
    self._file.flush()
    if self._tb is not None:
      for k, v in scalars.items():
        self._tb.add_scalar(f"{split}/{k}", v, int(step))

  def close(self) -> None:
    if not self.active:
      return
    self._file.close()
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]
