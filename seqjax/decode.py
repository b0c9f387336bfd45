"""Decoding from autoregressive models: greedy, temperature / top-k sampling, beam search.

A model is given as ``step_fn(carry, tokens) -> (logits, carry)`` with ``tokens: [B]`` and
``logits: [B, V]`` (the LM sampler and the seq2seq decoder both are). Every decoder has fixed
shapes (``num_steps`` / ``max_len`` outputs, padded after ``<eos>``), so it is jittable (jit at
the call site), batched, and compiles once per shape.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax


def filter_top_k(logits: jax.Array, top_k: int) -> jax.Array:
  """Keeps the ``top_k`` largest logits of each row; the rest become ``-inf``."""
  if top_k <= 0 or top_k >= logits.shape[-1]:
    return logits
  kth = lax.top_k(logits, top_k)[0][..., -1:]
  return jnp.where(logits < kth, -jnp.inf, logits)


StepFn = Callable[[Any, jax.Array], tuple[jax.Array, Any]]
NEG_INF = -1.0e9  # a finite "impossible" log-probability (inf - inf would give NaN)


def sample(step_fn: StepFn, carry: Any, first: jax.Array, num_steps: int, *, key: jax.Array,
           temperature: float = 1.0, top_k: int = 0, eos_id: Optional[int] = None,
           pad_id: int = 0) -> tuple[jax.Array, Any]:
  """Generates ``num_steps`` tokens after ``first: [B]``; returns ``([B, num_steps], carry)``.

  ``temperature == 0`` is greedy decoding (argmax); otherwise tokens are drawn from
  ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely (0: all). With
  ``eos_id``, a row stops at its first ``eos_id`` (which is kept): every later position is
  ``pad_id``. (The scan still runs ``num_steps``; the carry returned is the last step's.)
  """
  if temperature < 0:
    raise ValueError(f"sample: temperature must be >= 0; got {temperature}")
  if num_steps < 1:
    raise ValueError(f"sample: num_steps must be >= 1; got {num_steps}")

  def body(state, step_key):
    carry, token, done = state
    logits, carry = step_fn(carry, token)
    if temperature == 0:
      token = jnp.argmax(logits, axis=-1).astype(first.dtype)
    else:
      logits = filter_top_k(logits.astype(jnp.float32) / temperature, top_k)
      token = jax.random.categorical(step_key, logits, axis=-1).astype(first.dtype)
    if eos_id is not None:
      token = jnp.where(done, jnp.asarray(pad_id, first.dtype), token)
      done = done | (token == eos_id)
    return (carry, token, done), token

  done = jnp.zeros(first.shape, bool)
  (carry, _, _), tokens = lax.scan(body, (carry, first, done), jax.random.split(key, num_steps))
  return jnp.moveaxis(tokens, 0, -1), carry


def greedy(step_fn: StepFn, carry: Any, first: jax.Array, num_steps: int, *,
           eos_id: Optional[int] = None, pad_id: int = 0) -> tuple[jax.Array, Any]:
  """Argmax decoding; ``sample`` with ``temperature=0``."""
  return sample(step_fn, carry, first, num_steps, key=jax.random.PRNGKey(0), temperature=0.0,
                eos_id=eos_id, pad_id=pad_id)


def sequence_lengths(tokens: jax.Array, eos_id: int) -> jax.Array:
  """Tokens up to and including the first ``eos_id`` of each row (the row's width if none)."""
  is_eos = tokens == eos_id
  first = jnp.argmax(is_eos, axis=-1)
  return jnp.where(jnp.any(is_eos, axis=-1), first + 1, tokens.shape[-1])


def tile_beams(tree: Any, beam_size: int) -> Any:
  """Repeats every leaf's rows ``beam_size`` times: ``[B, ...] -> [B * beam_size, ...]`` (row
  ``b * K + k`` is beam ``k`` of example ``b``). Use it on what ``step_fn`` closes over
  (e.g. the encoder memory) before ``beam_search``."""
  return jax.tree.map(lambda x: jnp.repeat(x, beam_size, axis=0), tree)


def length_penalty(length: jax.Array, alpha: float) -> jax.Array:
  """GNMT's ``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016); ``alpha = 0``: no
  normalisation, ``alpha = 1``: close to the per-token average."""
  return ((5.0 + length.astype(jnp.float32)) / 6.0) ** alpha


class BeamState(NamedTuple):
  step: jax.Array  # scalar: tokens generated so far
  alive_seq: jax.Array  # [B, K, L + 1] (position 0: the first token)
  alive_logp: jax.Array  # [B, K]
  finished_seq: jax.Array  # [B, K, L + 1]
  finished_score: jax.Array  # [B, K] log-probability / length penalty; NEG_INF: empty slot
  finished_flag: jax.Array  # [B, K]
  carry: Any  # leaves [B * K, ...]


def _gather_beams(x: jax.Array, index: jax.Array) -> jax.Array:
  """``x: [B, K, ...]``, ``index: [B, N]`` -> ``[B, N, ...]``."""
  return jax.vmap(lambda row, i: row[i])(x, index)


def _gather_carry(carry: Any, index: jax.Array, batch: int, beams: int) -> Any:
  def one(leaf):
    shaped = leaf.reshape((batch, beams) + leaf.shape[1:])
    return _gather_beams(shaped, index).reshape((batch * index.shape[1],) + leaf.shape[1:])
  return jax.tree.map(one, carry)


def beam_search(step_fn: StepFn, carry: Any, first: jax.Array, *, beam_size: int,
                max_len: int, eos_id: int, alpha: float = 0.0,
                pad_id: int = 0) -> tuple[jax.Array, jax.Array]:
  """Batched beam search for the hypotheses of highest ``log P(Y) / lp(|Y|)``.

  Args:
    step_fn: ``(carry, tokens [B*K]) -> (logits [B*K, V], carry)``. Anything it closes over
      with a batch axis must be tiled with ``tile_beams`` first.
    carry: the initial carry for ``B`` examples (leaves ``[B, ...]``); tiled here.
    first: ``[B]`` the first input token (``<bos>``).
    beam_size: K; ``max_len``: at most this many tokens per hypothesis (``<eos>`` included).
    alpha: the length penalty exponent (``length_penalty``); 0 ranks by raw log-probability.

  Returns:
    ``(tokens [B, K, max_len], scores [B, K])``, best first; each hypothesis ends with its
    ``eos_id`` (then ``pad_id``), or fills ``max_len`` without one. (A slot no hypothesis
    reached, possible only when ``K`` exceeds the number of hypotheses, scores ``NEG_INF``.)

  Each step extends every alive hypothesis by every token and keeps the ``2K`` best; those of
  the best ``K`` that end in ``<eos>`` join the finished set (its best ``K`` are kept) and the
  ``K`` best that do not end stay alive. The search stops when no alive hypothesis can still beat the worst finished one
  of every example (exact for ``alpha = 0``, whose scores only fall; for ``alpha > 0`` the bound
  divides by ``lp(max_len)``, as Flax's and tensor2tensor's beam search do). Hypotheses still
  alive at ``max_len`` compete with the finished ones, scored with ``lp(max_len)``.
  """
  if beam_size < 1 or max_len < 1:
    raise ValueError(f"beam_search: beam_size and max_len must be >= 1; got {beam_size}, "
                     f"{max_len}")
  batch, k = first.shape[0], beam_size
  seq = jnp.full((batch, k, max_len + 1), pad_id, first.dtype).at[:, :, 0].set(first[:, None])
  logp = jnp.tile(jnp.asarray([0.0] + [NEG_INF] * (k - 1), jnp.float32), (batch, 1))
  state = BeamState(step=jnp.asarray(0, jnp.int32), alive_seq=seq, alive_logp=logp,
                    finished_seq=seq, finished_score=jnp.full((batch, k), NEG_INF, jnp.float32),
                    finished_flag=jnp.zeros((batch, k), bool), carry=tile_beams(carry, k))
  max_lp = length_penalty(jnp.asarray(max_len), alpha)

  def not_done(s: BeamState) -> jax.Array:
    best_alive = s.alive_logp[:, 0] / max_lp
    worst_finished = jnp.min(jnp.where(s.finished_flag, s.finished_score, NEG_INF), axis=1)
    can_improve = ~jnp.all(s.finished_flag, axis=1) | (best_alive > worst_finished)
    return (s.step < max_len) & jnp.any(can_improve)

  def body(s: BeamState) -> BeamState:
    tokens = s.alive_seq[:, :, s.step].reshape(batch * k)
    logits, carry = step_fn(s.carry, tokens)
    vocab = logits.shape[-1]
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1).reshape(batch, k, vocab)
    candidates = (s.alive_logp[:, :, None] + log_probs).reshape(batch, k * vocab)
    top_logp, top_index = lax.top_k(candidates, 2 * k)
    beam_index, token = top_index // vocab, (top_index % vocab).astype(first.dtype)
    top_seq = _gather_beams(s.alive_seq, beam_index)
    top_seq = top_seq.at[:, :, s.step + 1].set(token)
    is_eos = token == eos_id
    # Alive: the K best candidates that did not just end.
    alive_logp, alive_pick = lax.top_k(jnp.where(is_eos, NEG_INF, top_logp), k)
    alive_seq = _gather_beams(top_seq, alive_pick)
    carry = _gather_carry(carry, _gather_beams(beam_index, alive_pick), batch, k)
    # Finished: merge those that just ended with the old finished set; keep the K best.
    score = top_logp / length_penalty(s.step + 1, alpha)
    # As fairseq does, an ending counts only if it ranks among the K best candidates, so that
    # beam_size=1 is greedy decoding exactly.
    in_beam = jnp.arange(2 * k)[None, :] < k
    new_score = jnp.where(is_eos & in_beam & (top_logp > NEG_INF / 2), score, NEG_INF)
    all_seq = jnp.concatenate([s.finished_seq, top_seq], axis=1)
    all_score = jnp.concatenate([s.finished_score, new_score], axis=1)
    all_flag = jnp.concatenate([s.finished_flag, new_score > NEG_INF / 2], axis=1)
    finished_score, pick = lax.top_k(all_score, k)
    return BeamState(step=s.step + 1, alive_seq=alive_seq, alive_logp=alive_logp,
                     finished_seq=_gather_beams(all_seq, pick), finished_score=finished_score,
                     finished_flag=_gather_beams(all_flag, pick), carry=carry)

  s = lax.while_loop(not_done, body, state)
  # At max_len the alive hypotheses are complete too: they fill the finished set's empty slots
  # (after an early stop every example already has K finished ones that they cannot beat).
  alive_score = jnp.where(s.step >= max_len, s.alive_logp / max_lp, NEG_INF)
  scores = jnp.concatenate([jnp.where(s.finished_flag, s.finished_score, NEG_INF), alive_score], 1)
  scores, pick = lax.top_k(scores, k)
  seqs = _gather_beams(jnp.concatenate([s.finished_seq, s.alive_seq], axis=1), pick)
  return seqs[:, :, 1:], scores


def fixed_length_beam(step_fn: StepFn, carry: Any, logits: jax.Array, length: int, *,
                      beam_size: int, banned: tuple[int, ...] = (),
                      end_id: Optional[int] = None) -> tuple[jax.Array, jax.Array]:
  """The ``beam_size`` most likely continuations of exactly ``length`` tokens (imputing the
  missing end of a sentence).

  Args:
    step_fn: as ``beam_search``'s: ``(carry, tokens [B*K]) -> (logits [B*K, V], carry)``.
    carry: the carry after the observed prefix (leaves ``[B, ...]``); tiled here.
    logits: ``[B, V]``, the prefix's prediction of the first missing token.
    length: tokens to fill; ``banned``: token ids never chosen (``<pad>``, ``<bos>``, ``<eos>``).
    end_id: if set, each continuation is scored with ``log P(end_id)`` after it too (a completed
      sentence's ``<eos>``), and the beam is re-ranked with it.

  Returns:
    ``(tokens [B, K, length], scores [B, K])``, best first; ``scores`` are log-probabilities.

  Each step keeps the ``K`` best extensions of the ``K`` kept prefixes (``K = 1`` is greedy
  decoding). With ``K`` at least the number of allowed continuations (``(V - |banned|) ** length``)
  nothing is pruned, so the result is the exhaustive search's.
  """
  if length < 1 or beam_size < 1:
    raise ValueError(f"fixed_length_beam: length and beam_size must be >= 1; got {length}, "
                     f"{beam_size}")
  batch, vocab = logits.shape
  k = beam_size
  ban = jnp.zeros((vocab,), bool)
  if banned:
    ban = ban.at[jnp.asarray(banned)].set(True)

  def log_probs(lg: jax.Array) -> jax.Array:
    return jnp.where(ban, NEG_INF, jax.nn.log_softmax(lg.astype(jnp.float32), axis=-1))

  # The first token: the K best of the prefix's prediction (slots beyond V stay impossible).
  first = log_probs(logits)
  pad = max(0, k - vocab)
  first = jnp.concatenate([first, jnp.full((batch, pad), 2 * NEG_INF, jnp.float32)], 1)
  scores, tokens = lax.top_k(first, k)
  tokens = jnp.minimum(tokens, vocab - 1).astype(jnp.int32)
  seqs = jnp.zeros((batch, k, length), jnp.int32).at[:, :, 0].set(tokens)
  carry = tile_beams(carry, k)
  for t in range(1, length):
    lg, carry = step_fn(carry, seqs[:, :, t - 1].reshape(batch * k))
    candidates = (scores[:, :, None] + log_probs(lg).reshape(batch, k, vocab))
    scores, index = lax.top_k(candidates.reshape(batch, k * vocab), k)
    beam, token = index // vocab, (index % vocab).astype(jnp.int32)
    seqs = _gather_beams(seqs, beam).at[:, :, t].set(token)
    carry = _gather_carry(carry, beam, batch, k)
  if end_id is not None:
    lg, _ = step_fn(carry, seqs[:, :, length - 1].reshape(batch * k))
    end = jax.nn.log_softmax(lg.astype(jnp.float32), axis=-1)[:, end_id].reshape(batch, k)
    scores, order = lax.top_k(scores + end, k)
    seqs = _gather_beams(seqs, order)
  return seqs, scores
