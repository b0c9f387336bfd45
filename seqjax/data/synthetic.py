r"""Synthetic long-dependency tasks, generated on the fly from a seed (no download).

- **Adding problem** (Hochreiter & Schmidhuber 1997; Le et al. 2015): ``T`` steps of two input
  channels, a value ``U(0, 1)`` and a marker; exactly two steps are marked, one in each half of
  the sequence. The target is the sum of the two marked values, read after the last step.
  Always predicting 1 scores MSE ``Var(u₁ + u₂) = 1/6 ≈ 0.167``; "solved" is MSE < 0.01.
- **Copy memory** (Arjovsky et al. 2016): ``n`` symbols from ``{1..k}`` (``n=10``, ``k=8``),
  then ``T - 1`` blanks (0), a delimiter (``k + 1``), then ``n`` more blanks: ``T + 2n`` steps.
  The target is blank everywhere except the last ``n`` steps, which must repeat the first
  ``n`` symbols. A model that outputs blanks and then guesses uniformly scores cross-entropy
  ``n log k / (T + 2n)``; the reported metric is the accuracy on the ``n`` recalled symbols
  (chance ``1/k``).

Batches are pure functions of ``(seed, step)``, so training is reproducible and a resumed run
sees the same data.
"""

from __future__ import annotations

import math

import numpy as np

TASKS = ("adding", "copy")


def adding_batch(seed: int, step: int, batch_size: int, length: int) -> dict[str, np.ndarray]:
  """``inputs [B, T, 2]`` (value, marker), ``targets [B]`` (the sum of the two marked values)."""
  if length < 2:
    raise ValueError(f"adding problem: length must be >= 2; got {length}")
  rng = np.random.default_rng([seed, step])
  values = rng.random((batch_size, length)).astype(np.float32)
  half = length // 2
  first = rng.integers(0, half, batch_size)
  second = rng.integers(half, length, batch_size)
  markers = np.zeros((batch_size, length), np.float32)
  rows = np.arange(batch_size)
  markers[rows, first] = 1.0
  markers[rows, second] = 1.0
  targets = values[rows, first] + values[rows, second]
  return {"inputs": np.stack([values, markers], axis=-1), "targets": targets.astype(np.float32)}


def copy_batch(seed: int, step: int, batch_size: int, length: int, *, num_symbols: int = 8,
               copy_length: int = 10) -> dict[str, np.ndarray]:
  """``tokens [B, T + 2n]`` (0 blank, 1..k symbols, k + 1 delimiter), ``targets [B, T + 2n]``
  and ``recall_mask [B, T + 2n]`` (1 at the last ``n`` steps)."""
  if length < 1:
    raise ValueError(f"copy memory: length must be >= 1; got {length}")
  rng = np.random.default_rng([seed, step])
  n, total = copy_length, length + 2 * copy_length
  symbols = rng.integers(1, num_symbols + 1, (batch_size, n))
  tokens = np.zeros((batch_size, total), np.int32)
  tokens[:, :n] = symbols
  tokens[:, n + length - 1] = num_symbols + 1
  targets = np.zeros((batch_size, total), np.int32)
  targets[:, -n:] = symbols
  mask = np.zeros((batch_size, total), np.float32)
  mask[:, -n:] = 1.0
  return {"tokens": tokens, "targets": targets, "recall_mask": mask}


def copy_baseline_loss(length: int, num_symbols: int = 8, copy_length: int = 10) -> float:
  """Cross-entropy per step of blanks then uniform guesses over the symbols."""
  return copy_length * math.log(num_symbols) / (length + 2 * copy_length)


ADDING_BASELINE_MSE = 1.0 / 6.0
