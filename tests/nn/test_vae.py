"""The sentence VAE's parts against NumPy: the Gaussian KL, the ELBO, the importance-sampled NLL
(a bound that tends to the exact NLL), word dropout, padding invariance, free bits, annealing, and
the imputation beam against brute force."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.vae import generate
from experiments.vae.task import importance_nll
from seqjax import decode
from seqjax.data import sentences as sentences_lib
from seqjax.data.vocab import Vocabulary
from seqjax.nn import vae
from seqjax.nn.rnn import RNNSpec
from seqjax.nn.vae import SentenceVAE

V = 9  # <pad> <bos> <eos> + 6 words


def model(**kw):
  args = dict(vocab_size=V, embed_size=6, latent_size=3, encoder=RNNSpec(hidden_size=5),
              decoder=RNNSpec(hidden_size=5))
  args.update(kw)
  return SentenceVAE(**args)


def init(m, seed=0):
  tokens = jnp.zeros((2, 6), jnp.int32)
  return m.init(jax.random.key(seed), tokens, tokens, jnp.array([6, 2]))["params"]


def batch(seed=0, rows=4, width=7):
  """Sentences of 1..width-1 words (ids 3..8), in the task's batch layout."""
  rng = np.random.default_rng(seed)
  sents = [rng.integers(3, V, rng.integers(1, width)).astype(np.int32) for _ in range(rows)]
  return sentences_lib.pad_sentences(sents, np.arange(rows), rows, width, pad_id=0, bos_id=1,
                                     eos_id=2), sents


def log_softmax(x):
  x = np.asarray(x, np.float64)
  return x - np.log(np.sum(np.exp(x - x.max(-1, keepdims=True)), -1, keepdims=True)) - x.max(
      -1, keepdims=True)


def test_gaussian_kl_against_numpy_and_monte_carlo():
  rng = np.random.default_rng(0)
  mu, logvar = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)) * 0.5
  want = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar)
  np.testing.assert_allclose(vae.gaussian_kl(jnp.asarray(mu), jnp.asarray(logvar)), want,
                             rtol=1e-5)
  # E_q[log q(z) - log p(z)] by sampling, one row.
  z = mu[0] + np.exp(0.5 * logvar[0]) * rng.normal(size=(200_000, 3))
  log_q = np.asarray(vae.log_normal(jnp.asarray(z), jnp.asarray(mu[:1]), jnp.asarray(logvar[:1])))
  log_p = -0.5 * np.sum(z ** 2 + np.log(2 * np.pi), -1)
  assert abs(np.mean(log_q - log_p) - want[0].sum()) < 0.02


def test_kl_weight_schedules():
  s = lambda step, kind: float(vae.kl_weight(step, kind, 100))
  assert [s(t, "linear") for t in (0, 50, 100, 500)] == [0.0, 0.5, 1.0, 1.0]
  assert s(50, "sigmoid") == 0.5 and s(0, "sigmoid") < 0.01 and s(100, "sigmoid") > 0.99
  assert s(0, "none") == 1.0
  with pytest.raises(ValueError, match="schedule must be one of"):
    vae.kl_weight(0, "cosine", 10)


def test_free_bits_stop_the_gradient_below_the_floor():
  kl = jnp.array([[0.01, 2.0], [0.03, 1.0]])
  w = jnp.ones(2)
  np.testing.assert_allclose(vae.kl_term(kl, w), 3.04 / 2, rtol=1e-6)
  np.testing.assert_allclose(vae.kl_term(kl, w, free_bits=0.5), 0.5 + 1.5, rtol=1e-6)
  grad = jax.grad(lambda k: vae.kl_term(k, w, free_bits=0.5))(kl)
  np.testing.assert_allclose(grad, [[0.0, 0.5], [0.0, 0.5]])
  # Filler rows (weight 0) do not count.
  np.testing.assert_allclose(vae.kl_term(kl, jnp.array([1.0, 0.0])), 2.01, rtol=1e-6)


def test_elbo_is_reconstruction_minus_kl_by_hand():
  """The task's evaluation sums and training loss against the ELBO computed in NumPy from the
  model's own (mu, logvar) and logits, with the same posterior draws."""
  from experiments.vae.configs import tiny
  from experiments.vae.task import TASK, eval_key
  m = model()
  params = init(m)
  b, _ = batch()
  b["weights"][3] = 0.0  # a filler row: must not count
  c = tiny.get_config()
  c.model.latent_size = 3
  eps = np.asarray(vae.row_normal(eval_key(c), jnp.asarray(b["index"]), (3,)))
  logits, mu, logvar = m.apply({"params": params}, b["inputs"], b["targets"], b["lengths"],
                               jnp.asarray(eps))
  lp = log_softmax(logits)
  recon = np.array([-sum(lp[r, t, b["targets"][r, t]] for t in range(b["lengths"][r]))
                    for r in range(4)])
  mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
  kl = 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, -1)
  w = b["weights"]
  sums, _ = TASK.eval_step(m, params, b, None, c)
  np.testing.assert_allclose(sums["recon"], np.sum(recon * w), rtol=1e-5)
  np.testing.assert_allclose(sums["kl"], np.sum(kl * w), rtol=1e-5)
  assert float(sums["sentences"]) == 3 and float(sums["tokens"]) == np.sum(b["lengths"][:3])
  scores = TASK.finalize(jax.device_get(sums), "validation", c)
  neg_elbo = np.sum((recon + kl) * w) / 3
  np.testing.assert_allclose(scores["loss"], neg_elbo, rtol=1e-5)
  np.testing.assert_allclose(scores["ppl"], np.exp(3 * neg_elbo / sums["tokens"]), rtol=1e-5)
  # The training loss: the same formula with its own draw; no dropout in this model, so with
  # the draw recomputed from the loss's key the values match by hand too.
  _, z_key = jax.random.split(jax.random.key(5))
  eps_t = np.asarray(jax.random.normal(z_key, (4, 3)))
  logits_t, _, _ = m.apply({"params": params}, b["inputs"], b["targets"], b["lengths"],
                           jnp.asarray(eps_t))
  lp_t = log_softmax(logits_t)
  recon_t = np.array([-sum(lp_t[r, t, b["targets"][r, t]] for t in range(b["lengths"][r]))
                      for r in range(4)])
  objective, metrics, _ = TASK.loss(m, params, {**b, "kl_weight": 0.25},
                                    key=jax.random.key(5), carry=None, config=c)
  np.testing.assert_allclose(metrics["recon"], np.sum(recon_t * w) / 3, rtol=1e-5)
  np.testing.assert_allclose(metrics["kl"], np.sum(kl * w) / 3, rtol=1e-5)
  np.testing.assert_allclose(objective, (np.sum(recon_t * w) + 0.25 * np.sum(kl * w)) / 3,
                             rtol=1e-5)


def test_importance_sampled_nll_is_exact_when_the_decoder_ignores_z():
  m = model()
  params = init(m)
  # A decoder that ignores z: the bridge maps every z to the same state.
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.zeros_like(x) if "bridge" in jax.tree_util.keystr(path) and
      "kernel" in jax.tree_util.keystr(path) else x, params)
  b, _ = batch(rows=5)
  b = {k: jnp.asarray(v) for k, v in b.items()}
  # With the bridge ignoring z, the initial state is tanh(bias) for every z: decode any z.
  z0 = jnp.zeros((5, 3))
  exact = float(jnp.sum(vae.sentence_nll(m.apply({"params": params}, b["inputs"], z0,
                                                  method=SentenceVAE.decode),
                                          b["targets"], b["lengths"])))
  key = jax.random.key(3)
  # q = p (posterior weights zero): every importance weight is p(x), at any K.
  exact_q = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.zeros_like(x) if "posterior" in jax.tree_util.keystr(path) else x,
      params)
  np.testing.assert_allclose(float(importance_nll(m, exact_q, b, 3, key)), exact, rtol=1e-5)
  # q = N(mu, I) != p (logvar zero): the weights p(z)/q(z) are log-normal, with a finite
  # variance. The estimate is above the exact NLL on average (Jensen), below the ELBO's bound,
  # and tends to the exact NLL as K grows.
  half = lambda x: x.at[..., 3:].set(0.0)
  params["posterior"] = {"kernel": half(params["posterior"]["kernel"]),
                         "bias": half(params["posterior"]["bias"]) + 0.0}
  params["posterior"]["bias"] = params["posterior"]["bias"].at[:3].set(0.4)
  mu, logvar = m.apply({"params": params}, b["targets"], b["lengths"], method=SentenceVAE.encode)
  np.testing.assert_array_equal(logvar, 0.0)
  kl = float(jnp.sum(vae.gaussian_kl(mu, logvar)))
  neg_elbo = exact + kl  # log p(x|z) does not depend on z
  assert kl > 0.5
  jitted = jax.jit(lambda p, bb, key, k: importance_nll(m, p, bb, k, key), static_argnums=3)
  estimate = lambda k, seed: float(jitted(params, b, jax.random.key(seed), k))
  k1 = np.mean([estimate(1, s) for s in range(200)])
  k10 = np.mean([estimate(10, s) for s in range(200)])
  # K = 1 is a sampled ELBO: its mean over 200 draws is within 4 standard errors (a draw's
  # variance is sum_b |mu_b|^2 = 2 KL). K = 10 is tighter: about 0.1 nats above the exact NLL
  # (standard error 0.03).
  np.testing.assert_allclose(k1, neg_elbo, atol=4 * math.sqrt(2 * kl / 200))
  assert exact - 0.15 < k10 < k1 - 0.3
  assert abs(estimate(4000, 0) - exact) < 0.1 * kl


def test_importance_nll_does_not_depend_on_batching():
  m = model()
  params = init(m)
  b, _ = batch(rows=6)
  whole = float(importance_nll(m, params, {k: jnp.asarray(v) for k, v in b.items()}, 4,
                               jax.random.key(0)))
  parts = sum(float(importance_nll(m, params, {k: jnp.asarray(v[s]) for k, v in b.items()}, 4,
                                   jax.random.key(0))) for s in (slice(0, 2), slice(2, 6)))
  np.testing.assert_allclose(whole, parts, rtol=1e-5)


@pytest.mark.parametrize("latent", [0, 3])
def test_inputless_decoder_sees_no_word(latent):
  m = model(word_keep=0.0, latent_size=latent, dropout_rate=0.0)
  params = init(m)
  b, _ = batch()
  z = jnp.ones((4, 3)) if latent else None
  other = np.where(b["inputs"] > 2, 3 + (b["inputs"] - 2) % 6, b["inputs"])
  assert np.any(other != b["inputs"])
  for deterministic in (True, False):
    rngs = {"dropout": jax.random.key(0)}
    one = m.apply({"params": params}, b["inputs"], z, deterministic=deterministic, rngs=rngs,
                  method=SentenceVAE.decode)
    two = m.apply({"params": params}, jnp.asarray(other), z, deterministic=deterministic,
                  rngs=rngs, method=SentenceVAE.decode)
    np.testing.assert_array_equal(one, two)
  # With inputs (k = 1) the words matter.
  m1 = model(latent_size=latent)
  p1 = init(m1)
  assert not np.allclose(m1.apply({"params": p1}, b["inputs"], z, method=SentenceVAE.decode),
                         m1.apply({"params": p1}, jnp.asarray(other), z,
                                  method=SentenceVAE.decode))


def test_word_dropout_rate_while_training():
  m = model(word_keep=0.25, embed_size=4)
  params = init(m)
  tokens = jnp.full((200, 50), 5, jnp.int32)
  x = m.apply({"params": params}, tokens, None, False, rngs={"dropout": jax.random.key(1)},
              method=SentenceVAE._decoder_inputs)
  dropped = np.all(np.isclose(np.asarray(x), np.asarray(params["dropped_word"])), -1)
  assert abs(dropped.mean() - 0.75) < 0.01
  kept = m.apply({"params": params}, tokens, None, True, method=SentenceVAE._decoder_inputs)
  assert not np.any(np.all(np.isclose(np.asarray(kept), np.asarray(params["dropped_word"])), -1))


def test_padding_does_not_change_the_posterior_or_the_scores():
  m = model(encoder=RNNSpec(hidden_size=5, bidirectional=True))
  params = init(m)
  b, sents = batch(width=7)
  wide = sentences_lib.pad_sentences(sents, np.arange(4), 4, 15, pad_id=0, bos_id=1, eos_id=2)
  mu1, lv1 = m.apply({"params": params}, b["targets"], b["lengths"], method=SentenceVAE.encode)
  mu2, lv2 = m.apply({"params": params}, wide["targets"], wide["lengths"],
                     method=SentenceVAE.encode)
  np.testing.assert_allclose(mu1, mu2, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(lv1, lv2, rtol=1e-5, atol=1e-6)
  nll = lambda bb: vae.sentence_nll(m.apply({"params": params}, bb["inputs"], bb["targets"],
                                            bb["lengths"])[0], bb["targets"], bb["lengths"])
  np.testing.assert_allclose(nll(b), nll(wide), rtol=1e-5)


def test_step_by_step_decoding_equals_teacher_forcing():
  m = model(z_every_step=True, decoder=RNNSpec(hidden_size=5, num_layers=2))
  params = init(m)
  b, _ = batch()
  z = jnp.asarray(np.random.default_rng(2).normal(size=(4, 3)), jnp.float32)
  forced = m.apply({"params": params}, b["inputs"], z, method=SentenceVAE.decode)
  carry = m.apply({"params": params}, z, 4, method=SentenceVAE.start)
  for t in range(b["inputs"].shape[1]):
    logits, carry = m.apply({"params": params}, carry, jnp.asarray(b["inputs"][:, t]),
                            method=SentenceVAE.step)
    np.testing.assert_allclose(logits, forced[:, t], rtol=1e-4, atol=1e-5)
  # read() of a prefix gives the prediction after it and the carry there.
  lengths = jnp.array([3, 1, 2, 4])
  last, _ = m.apply({"params": params}, b["inputs"], lengths, z, method=SentenceVAE.read)
  np.testing.assert_allclose(last, forced[np.arange(4), np.asarray(lengths) - 1], rtol=1e-4,
                             atol=1e-5)


def test_imputation_is_the_brute_force_best_completion():
  vocab = Vocabulary(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c", "d", "e"])
  for latent in (0, 3):
    m = model(latent_size=latent)
    params = init(m, seed=4)
    sents = [np.array([4, 5, 6, 7, 8], np.int32), np.array([8, 8, 4, 3], np.int32)]
    missing, allowed = 2, list(range(3, V))
    out = generate.impute(m, params, vocab, sents, missing, beam_size=len(allowed) ** missing)
    for i, s in enumerate(sents):
      prefix = s[:len(s) - missing]
      z = (generate.posterior_mean(m, params, [prefix], vocab, with_eos=False)
           if latent else None)
      best = (-np.inf, None)
      for fill in itertools.product(allowed, repeat=missing):
        full = np.concatenate([prefix, fill]).astype(np.int32)
        inputs = jnp.asarray(np.concatenate([[1], full]))[None]
        targets = np.concatenate([full, [2]])
        lp = log_softmax(m.apply({"params": params}, inputs, z, method=SentenceVAE.decode))[0]
        score = sum(lp[t, targets[t]] for t in range(len(prefix), len(targets)))
        if score > best[0]:
          best = (score, fill)
        if tuple(fill) == tuple(s[len(s) - missing:]):
          np.testing.assert_allclose(out["reference"][i], score, rtol=1e-4)
      assert tuple(np.asarray(out["completions"][i])) == best[1]
      np.testing.assert_allclose(out["scores"][i], best[0], rtol=1e-4)


def test_fixed_length_beam_of_one_is_greedy():
  table = jax.random.normal(jax.random.key(0), (4, 7, 7))

  def step_fn(step, tokens):
    return table[step, tokens], step + 1

  first_logits = table[0, jnp.array([0, 1])]
  tokens, _ = decode.fixed_length_beam(step_fn, jnp.zeros((2,), jnp.int32) + 1, first_logits, 3,
                                       beam_size=1, banned=(0,))
  greedy = []
  for b in range(2):
    seq, logits, step = [], first_logits[b], 1
    for _ in range(3):
      tok = int(jnp.argmax(jnp.where(jnp.arange(7) == 0, -jnp.inf, logits)))
      seq.append(tok)
      logits, step = table[step, tok], step + 1
    greedy.append(seq)
  np.testing.assert_array_equal(tokens[:, 0], greedy)
  with pytest.raises(ValueError, match="length and beam_size must be >= 1"):
    decode.fixed_length_beam(step_fn, 0, first_logits, 0, beam_size=1)


def test_bad_models_are_refused():
  with pytest.raises(ValueError, match="decoder must be unidirectional"):
    init(model(decoder=RNNSpec(hidden_size=5, bidirectional=True)))
  with pytest.raises(ValueError, match="tie_weights needs"):
    init(model(tie_weights=True))
  with pytest.raises(ValueError, match="no encoder"):
    m = model(latent_size=0)
    m.apply({"params": init(m)}, jnp.zeros((1, 3), jnp.int32), jnp.array([3]),
            method=SentenceVAE.encode)
  assert math.isfinite(float(vae.gaussian_kl(jnp.zeros(1), jnp.zeros(1))[0]))
