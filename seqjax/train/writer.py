"""Metrics to a JSONL file and TensorBoard event files in the workdir (no TensorFlow)."""

from __future__ import annotations

import json
import os
from typing import Any


class MetricWriter:
  """Appends ``{"step": s, "split": name, **metrics}`` lines to ``workdir/metrics.jsonl`` and
  writes the same scalars as ``split/name`` to TensorBoard (tensorboardX). With
  ``active=False`` (every process but the first of a multi-process run) it writes nothing.

  ``resume_step``: the step a run (re)starts from. Records of later steps, written by an earlier
  start that was killed before its next checkpoint, are dropped first (atomically), so that
  every step is recorded once, by the start that the checkpoints continue.
  """

  def __init__(self, workdir: str, tensorboard: bool = True, active: bool = True,
               resume_step: int = 0):
    self.active = active
    if not active:
      return
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, "metrics.jsonl")
    truncate_metrics(self.path, resume_step)
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


def truncate_metrics(path: str, step: int) -> int:
  """Rewrites the JSONL file ``path`` without the records of steps after ``step`` (and without a
  torn last line); returns how many it dropped."""
  if not os.path.exists(path):
    return 0
  kept, dropped = [], 0
  with open(path, encoding="utf-8", errors="replace") as f:
    for line in f:
      try:
        record = json.loads(line)
      except ValueError:
        dropped += 1  # a line cut short by a kill
        continue
      if int(record.get("step", 0)) <= step:
        kept.append(line if line.endswith("\n") else line + "\n")
      else:
        dropped += 1
  if dropped:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      f.writelines(kept)
    os.replace(tmp, path)
  return dropped


def read_metrics(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]
