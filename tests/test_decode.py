import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import decode

V = 7


def next_token_model(carry, token):
  """Logits favour (token + 1) mod V; the carry counts steps."""
  return 5.0 * jax.nn.one_hot((token + 1) % V, V), carry + 1


def test_greedy_follows_argmax_and_threads_carry():
  out, carry = decode.greedy(next_token_model, jnp.zeros(2), jnp.array([0, 5]), 6)
  np.testing.assert_array_equal(out, [[1, 2, 3, 4, 5, 6], [6, 0, 1, 2, 3, 4]])
  np.testing.assert_array_equal(carry, [6, 6])


def test_top_k_one_is_greedy_and_filter_keeps_k():
  out, _ = decode.sample(next_token_model, jnp.zeros(2), jnp.array([0, 5]), 6,
                         key=jax.random.PRNGKey(0), top_k=1, temperature=2.0)
  np.testing.assert_array_equal(out, decode.greedy(next_token_model, jnp.zeros(2),
                                                   jnp.array([0, 5]), 6)[0])
  kept = decode.filter_top_k(jnp.array([[0.1, 3.0, -1.0, 2.0]]), 2)
  np.testing.assert_array_equal(jnp.isfinite(kept), [[False, True, False, True]])


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampling_frequencies_follow_tempered_softmax(temperature):
  p = np.array([0.5, 0.3, 0.2])
  fixed = lambda carry, token: (jnp.broadcast_to(jnp.log(p), (token.shape[0], 3)), carry)
  n = 20000
  out, _ = decode.sample(fixed, jnp.zeros(()), jnp.zeros(n, jnp.int32), 1,
                         key=jax.random.PRNGKey(1), temperature=temperature)
  expected = p ** (1 / temperature) / np.sum(p ** (1 / temperature))
  freq = np.bincount(np.asarray(out[:, 0]), minlength=3) / n
  np.testing.assert_allclose(freq, expected, atol=0.015)
  with pytest.raises(ValueError, match="temperature"):
    decode.sample(fixed, None, jnp.zeros(2, jnp.int32), 1, key=jax.random.PRNGKey(0),
                  temperature=-1.0)


# ------------------------------------------------------------------------------ beam search

VB, L, EOS = 4, 4, 3


def table_model(seed=0, eos_penalty=3.0):
  """Logits that depend on the step and the previous token: a model small enough that every
  hypothesis can be enumerated. ``<eos>`` is made unlikely early so hypotheses differ in length."""
  rng = np.random.default_rng(seed)
  table = jnp.asarray(rng.normal(size=(L + 1, VB, VB)) * 2, jnp.float32)
  table = table.at[:2, :, EOS].add(-eos_penalty)

  def step_fn(step, tokens):
    return table[step, tokens], step + 1

  return step_fn, np.asarray(jax.nn.log_softmax(table, -1), np.float64)


def enumerate_best(log_probs, first, alpha):
  """The best complete hypothesis by brute force: every sequence that ends at its first
  ``<eos>``, or runs to ``L`` tokens without one."""
  best = (-np.inf, None)
  for n in range(1, L + 1):
    for seq in itertools.product(range(VB), repeat=n):
      if EOS in seq[:-1] or (n < L and seq[-1] != EOS):
        continue
      prev, total = first, 0.0
      for t, token in enumerate(seq):
        total, prev = total + log_probs[t, prev, token], token
      score = total / ((5 + n) / 6) ** alpha
      if score > best[0]:
        best = (score, seq)
  return best


@pytest.mark.parametrize("alpha", [0.0, 0.6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_finds_the_best_enumerated_hypothesis(seed, alpha):
  step_fn, log_probs = table_model(seed)
  first = jnp.array([0, 1, 2])
  # 4 + 16 + 64 + 256 hypotheses: a beam of 256 keeps every one of them.
  tokens, scores = jax.jit(lambda c, f: decode.beam_search(
      step_fn, c, f, beam_size=256, max_len=L, eos_id=EOS, alpha=alpha))(
          jnp.zeros(3, jnp.int32), first)
  for b in range(3):
    score, seq = enumerate_best(log_probs, int(first[b]), alpha)
    assert float(scores[b, 0]) == pytest.approx(score, rel=1e-5)
    np.testing.assert_array_equal(tokens[b, 0, :len(seq)], seq)
    assert np.all(np.asarray(tokens[b, 0, len(seq):]) == 0)  # padded after <eos>
  assert np.all(np.diff(np.asarray(scores), axis=1) <= 1e-6)  # best first


@pytest.mark.parametrize("seed", range(4))
def test_beam_of_one_is_greedy(seed):
  step_fn, _ = table_model(seed, eos_penalty=0.0)
  first = jnp.array([0, 1, 2, 3])
  greedy, _ = decode.greedy(step_fn, jnp.zeros(4, jnp.int32), first, L, eos_id=EOS)
  beam, _ = decode.beam_search(step_fn, jnp.zeros(4, jnp.int32), first, beam_size=1, max_len=L,
                               eos_id=EOS)
  np.testing.assert_array_equal(beam[:, 0], greedy)


def test_beam_search_tiles_and_reorders_the_carry():
  """The carry must follow its hypothesis: a model whose logits depend on the whole history
  (kept in the carry) scores each beam by its own prefix."""
  weights = jnp.asarray(np.random.default_rng(5).normal(size=(VB, VB)), jnp.float32)

  def step_fn(history, tokens):
    history = history * 0.5 + jax.nn.one_hot(tokens, VB)
    return history @ weights * 3.0, history

  first = jnp.array([0, 2])
  tokens, scores = decode.beam_search(step_fn, jnp.zeros((2, VB)), first, beam_size=64,
                                      max_len=3, eos_id=EOS)
  for b in range(2):
    seq = [int(t) for t in tokens[b, 0]]
    history, total = np.zeros(VB), 0.0
    for prev, token in zip([int(first[b])] + seq, seq):
      history = history * 0.5 + np.eye(VB)[prev]
      logits = history @ np.asarray(weights) * 3.0
      total += logits[token] - np.log(np.exp(logits).sum())
      if token == EOS:
        break
    assert float(scores[b, 0]) == pytest.approx(total, rel=1e-4)


def test_greedy_stops_at_eos_and_pads():
  def to_eos(carry, tokens):
    return 5.0 * jax.nn.one_hot(jnp.minimum(tokens + 1, 3), V), carry

  out, _ = decode.greedy(to_eos, jnp.zeros(()), jnp.array([0, 2]), 5, eos_id=3, pad_id=0)
  np.testing.assert_array_equal(out, [[1, 2, 3, 0, 0], [3, 0, 0, 0, 0]])
  np.testing.assert_array_equal(decode.sequence_lengths(out, 3), [3, 1])


def test_length_penalty_and_bad_beam_arguments():
  assert float(decode.length_penalty(jnp.asarray(1), 1.0)) == pytest.approx(1.0)
  assert float(decode.length_penalty(jnp.asarray(7), 0.5)) == pytest.approx(np.sqrt(2.0))
  with pytest.raises(ValueError, match="beam_size and max_len must be >= 1"):
    decode.beam_search(next_token_model, None, jnp.zeros(2, jnp.int32), beam_size=0,
                       max_len=3, eos_id=1)
