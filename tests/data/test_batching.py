"""``BucketedBatches``, the one length-bucketed batcher: bucketing, epochs, resumable position,
evaluation order, several padded axes and process shards (through its text-classification use
and directly)."""

import numpy as np
import pytest

from seqjax.data import sentiment as data_lib
from seqjax.data.batching import BucketedBatches


def _split(lengths, seed=0):
  rng = np.random.default_rng(seed)
  ids = [rng.integers(4, 50, n).astype(np.int32) for n in lengths]
  return data_lib.Split(ids=ids, labels=np.arange(len(lengths), dtype=np.int32) % 2)


def test_training_batches_bucket_by_length_and_cover_each_example_once():
  rng = np.random.default_rng(1)
  split = _split(rng.integers(1, 60, 1000))
  batches = data_lib.text_batches(split, 32, shuffle=True, seed=3, bucket_chunk=10, pad_multiple=8)
  assert len(batches) == 1000 // 32
  epoch0 = batches.batch_indices(0)
  seen = np.concatenate(epoch0)
  assert len(seen) == 31 * 32 and len(np.unique(seen)) == len(seen)
  # Bucketing: the padding overhead is far below that of random batches.
  lengths = batches.lengths

  def waste(groups):
    return sum(lengths[g].max() * len(g) - lengths[g].sum() for g in groups)

  random_groups = np.array_split(np.random.default_rng(0).permutation(1000)[:992], 31)
  assert waste(epoch0) < 0.2 * waste(random_groups)
  # A new order every epoch, the same order for the same seed.
  assert not np.array_equal(np.concatenate(batches.batch_indices(1)), seen)
  again = data_lib.text_batches(split, 32, shuffle=True, seed=3, bucket_chunk=10)
  np.testing.assert_array_equal(np.concatenate(again.batch_indices(0)), seen)
  for batch in [next(iter(batches)) for _ in range(3)]:
    assert batch["tokens"].shape[1] % 8 == 0
    assert batch["tokens"].shape[0] == 32 and batch["weights"].sum() == 32


def test_training_batches_resume_from_their_state():
  split = _split(np.random.default_rng(2).integers(1, 30, 200))
  a = data_lib.text_batches(split, 16, shuffle=True, seed=0)
  it = iter(a)
  for _ in range(20):  # crosses the epoch boundary (12 batches per epoch)
    next(it)
  state = a.get_state()
  assert state == {"epoch": 1, "position": 8}
  expected = [next(it) for _ in range(6)]
  b = data_lib.text_batches(split, 16, shuffle=True, seed=0)
  b.set_state(state)
  got = [next(iter(b)) for _ in range(1)] + [x for _, x in zip(range(5), iter(b))]
  for x, y in zip(expected, got):
    for key in ("tokens", "lengths", "labels", "epoch"):
      np.testing.assert_array_equal(x[key], y[key])
  with pytest.raises(ValueError, match="position 99"):
    b.set_state({"epoch": 0, "position": 99})


def test_evaluation_batches_score_every_example_once():
  split = _split([3, 1, 7, 2, 5])
  batches = data_lib.text_batches(split, 2, shuffle=False, pad_multiple=1)
  out = list(batches.epoch_batches())
  assert len(out) == len(batches) == 3
  assert sum(b["weights"].sum() for b in out) == 5
  real = sorted(int(n) for b in out for n, w in zip(b["lengths"], b["weights"]) if w)
  assert real == [1, 2, 3, 5, 7]


def test_batches_reject_bad_sizes():
  with pytest.raises(ValueError, match="fewer than batch_size=64"):
    data_lib.text_batches(_split([3] * 10), 64, shuffle=True)
  with pytest.raises(ValueError, match="pad_multiple"):
    data_lib.text_batches(_split([3] * 10), 2, shuffle=True, pad_multiple=0)


def test_every_axis_is_padded_to_the_global_batch_and_shards_assemble_it():
  """Two padded axes (as a sentence pair's source and target): widths are each axis's longest
  length in the global batch, rounded up; every process pads only its rows to those widths."""
  rng = np.random.default_rng(0)
  lengths = np.stack([rng.integers(1, 20, 64), rng.integers(1, 40, 64)], axis=1)
  calls = []

  def pad(split, indices, rows, widths):
    calls.append((list(indices), rows, tuple(widths)))
    return {"index": np.asarray(indices), "widths": np.asarray(widths)}

  class Shard:
    def __init__(self, i, n):
      self.shard_index, self.shard_count = i, n

  whole = BucketedBatches(list(range(64)), 16, pad=pad, lengths=lengths, shuffle=True, seed=1,
                          pad_multiple=4)
  first = whole.batch_indices(0)[0]
  want = tuple(int(-(-n // 4) * 4) for n in lengths[first].max(axis=0))
  batch = next(iter(whole))
  assert tuple(batch["widths"]) == want
  # Examples are bucketed by their longer axis.
  assert np.array_equal(whole.lengths, lengths.max(axis=1))
  parts = [next(iter(BucketedBatches(list(range(64)), 16, pad=pad, lengths=lengths,
                                     shuffle=True, seed=1, pad_multiple=4, shard=Shard(i, 2))))
           for i in range(2)]
  assert all(tuple(p["widths"]) == want for p in parts)
  np.testing.assert_array_equal(np.concatenate([p["index"] for p in parts]), batch["index"])
  assert [c[1] for c in calls[-2:]] == [8, 8]
