"""word2vec: the negative-sampling loss against NumPy, the sparse SGD step against dense
autodiff, subsampling, the noise table, dynamic windows and resumable batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.data import word2vec as data_lib
from seqjax.data.vocab import Vocabulary
from seqjax.nn import word2vec as w2v

V, D, K = 13, 4, 3


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _params(seed=0):
  rng = np.random.default_rng(seed)
  return {"input": jnp.asarray(rng.normal(0, 0.5, (V, D)), jnp.float32),
          "output": jnp.asarray(rng.normal(0, 0.5, (V, D)), jnp.float32)}


def _batch(mode, rng, b=6):
  targets = rng.integers(0, V, b)
  if mode == "skipgram":
    return {"inputs": jnp.asarray(np.r_[targets[:2], rng.integers(0, V, b - 2)], jnp.int32),
            "targets": jnp.asarray(targets, jnp.int32)}
  mask = (rng.random((b, 4)) < 0.7).astype(np.float32)
  mask[:, 0] = 1.0
  return {"inputs": jnp.asarray(rng.integers(0, V, (b, 4)), jnp.int32),
          "input_mask": jnp.asarray(mask), "targets": jnp.asarray(targets, jnp.int32)}


@pytest.mark.parametrize("mode", data_lib.MODES)
def test_loss_matches_numpy(mode):
  rng = np.random.default_rng(1)
  params, batch = _params(), _batch(mode, rng)
  negatives = rng.integers(0, V, (6, K))
  negatives[0, 0] = batch["targets"][0]  # a noise word equal to the target is skipped
  got = np.asarray(w2v.loss(params, batch, jnp.asarray(negatives)))
  w_in, w_out = np.asarray(params["input"]), np.asarray(params["output"])
  for b in range(6):
    if mode == "skipgram":
      v = w_in[batch["inputs"][b]]
    else:
      m = np.asarray(batch["input_mask"][b])
      v = (w_in[np.asarray(batch["inputs"][b])] * m[:, None]).sum(0) / m.sum()
    o = int(batch["targets"][b])
    want = -np.log(_sigmoid(w_out[o] @ v))
    want -= sum(np.log(_sigmoid(-w_out[n] @ v)) for n in negatives[b] if n != o)
    np.testing.assert_allclose(got[b], want, rtol=1e-5)


@pytest.mark.parametrize("mode", data_lib.MODES)
def test_sparse_sgd_step_equals_dense_sgd_on_the_summed_loss(mode):
  rng = np.random.default_rng(2)
  params, batch = _params(3), _batch(mode, rng)
  negatives = jnp.asarray(rng.integers(0, V, (6, K)), jnp.int32)  # repeats across rows
  lr = 0.1
  new, mean_loss = w2v.sparse_sgd_step(params, batch, negatives, jnp.asarray(lr))
  total = lambda p: jnp.sum(w2v.loss(p, batch, negatives))
  grads = jax.grad(total)(params)
  for name in ("input", "output"):
    np.testing.assert_allclose(new[name], params[name] - lr * grads[name], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(mean_loss, total(params) / 6, rtol=1e-6)


def test_keep_probability_and_noise_table():
  counts = np.asarray([5000, 1000, 100, 10, 1])
  keep = data_lib.keep_probability(counts, 1e-2)
  f = counts / counts.sum()
  np.testing.assert_allclose(keep, np.minimum((np.sqrt(f / 1e-2) + 1) * 1e-2 / f, 1.0))
  assert keep[0] < keep[1] < 1.0 and keep[-1] == 1.0
  np.testing.assert_array_equal(data_lib.keep_probability(counts, 0.0), 1.0)
  table = data_lib.noise_table(counts, 0.75, size=100_000)
  want = counts ** 0.75 / (counts ** 0.75).sum()
  np.testing.assert_allclose(np.bincount(table, minlength=5) / table.size, want, atol=2e-5)


def test_dynamic_windows_stay_inside_sentences_and_radius():
  rng = np.random.default_rng(4)
  ids = np.arange(30, dtype=np.int32)  # position p holds word p
  sentence = np.repeat([0, 1, 2], 10).astype(np.int32)
  centers, contexts = data_lib.windows(ids, sentence, np.ones(30, bool), 3, rng)
  assert contexts.shape == (30, 6)
  for c, row in zip(centers, contexts):
    got = row[row >= 0]
    assert len(got) >= 1 and all(sentence[g] == sentence[c] for g in got)
    radius = np.abs(got - c).max()
    # every word within the drawn radius (inside the sentence) is a context, in order
    want = [p for p in range(c - radius, c + radius + 1)
            if p != c and 0 <= p < 30 and sentence[p] == sentence[c]]
    assert sorted(got.tolist()) == want
  # subsampling happens before the windows: a dropped word makes the window reach further
  keep = np.ones(30, bool)
  keep[1::2] = False
  centers, contexts = data_lib.windows(ids, sentence, keep, 1, np.random.default_rng(0))
  assert centers.tolist()[:3] == [0, 2, 4] and contexts[1].tolist() == [0, 4]


def _corpus():
  words = [f"w{k}" for k in range(8)]
  rng = np.random.default_rng(5)
  sents = [[words[i] for i in rng.integers(0, 8, rng.integers(2, 9))] for _ in range(60)]
  return data_lib.build_corpus({"train": sents, "validation": sents[:10]}, min_count=1)


@pytest.mark.parametrize("mode", data_lib.MODES)
def test_batches_resume_exactly_and_epochs_differ(mode):
  corpus = _corpus()
  a = data_lib.PairBatches(corpus, "train", 16, mode=mode, window=2, sample=1e-2, seed=7)
  it = iter(a)
  seen = [next(it) for _ in range(len(a) + 3)]  # crosses into epoch 1
  b = data_lib.PairBatches(corpus, "train", 16, mode=mode, window=2, sample=1e-2, seed=7)
  b.set_state({"epoch": 0, "position": 2})
  it_b = iter(b)
  for want in seen[2:]:
    got = next(it_b)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key])
  assert seen[-1]["epoch"] == 1
  assert not np.array_equal(a.batch(0, 0)["targets"], a.batch(1, 0)["targets"])
  with pytest.raises(ValueError, match="position 99 outside"):
    b.set_state({"epoch": 0, "position": 99})
  if mode == "cbow":
    assert seen[0]["inputs"].shape == (16, 4) and (seen[0]["input_mask"].sum(1) >= 1).all()


def test_vocabulary_counts_min_count_and_derived_analogies():
  sents = [["walk", "walks", "walked", "walking", "dog", "dogs"]] * 3 + [["rare"]]
  vocab, counts = data_lib.build_vocab(sents, min_count=2)
  assert "rare" not in vocab.ids and counts.tolist() == [3] * 6
  ids, sentence = data_lib.encode(sents, vocab)
  assert len(ids) == 18 and sentence.max() == 2  # out-of-vocabulary words are removed
  pairs = data_lib.suffix_analogies(Vocabulary(vocab.tokens, unk=None), top=100, min_stem=3)
  assert pairs["s"] == [("dog", "dogs"), ("walk", "walks")]
  assert pairs["ed"] == [("walk", "walked")] and pairs["ing"] == [("walk", "walking")]
  with pytest.raises(ValueError, match="min_count=5"):
    data_lib.build_vocab(sents, min_count=5)
