"""Synthetic task generators: shapes, the task's structure, determinism, baselines."""

import math

import numpy as np
import pytest

from seqjax.data import synthetic


def test_adding_batch_marks_one_value_in_each_half():
  batch = synthetic.adding_batch(0, 3, 256, 50)
  values, markers = batch["inputs"][..., 0], batch["inputs"][..., 1]
  assert batch["inputs"].shape == (256, 50, 2) and batch["targets"].shape == (256,)
  np.testing.assert_array_equal(markers.sum(1), 2.0)
  np.testing.assert_array_equal(markers[:, :25].sum(1), 1.0)
  np.testing.assert_allclose(batch["targets"], (values * markers).sum(1), rtol=1e-6)
  # Predicting 1 scores about Var(u1 + u2) = 1/6.
  big = synthetic.adding_batch(1, 0, 20000, 10)
  assert np.mean((big["targets"] - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.01)
  again = synthetic.adding_batch(0, 3, 256, 50)
  np.testing.assert_array_equal(again["inputs"], batch["inputs"])  # a function of (seed, step)
  assert not np.array_equal(synthetic.adding_batch(0, 4, 256, 50)["inputs"], batch["inputs"])


def test_copy_batch_layout():
  batch = synthetic.copy_batch(0, 0, 4, 30, num_symbols=8, copy_length=10)
  tokens, targets, mask = batch["tokens"], batch["targets"], batch["recall_mask"]
  assert tokens.shape == targets.shape == mask.shape == (4, 50)
  assert np.all((tokens[:, :10] >= 1) & (tokens[:, :10] <= 8))
  np.testing.assert_array_equal(tokens[:, 39], 9)  # the delimiter after T - 1 blanks
  np.testing.assert_array_equal(np.delete(tokens[:, 10:], 29, axis=1), 0)
  np.testing.assert_array_equal(targets[:, -10:], tokens[:, :10])
  np.testing.assert_array_equal(targets[:, :-10], 0)
  np.testing.assert_array_equal(mask.sum(1), 10)
  assert synthetic.copy_baseline_loss(100) == pytest.approx(10 * math.log(8) / 120)
  with pytest.raises(ValueError, match="length must be >= 1"):
    synthetic.copy_batch(0, 0, 4, 0)
