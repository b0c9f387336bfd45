"""Batched decoding of a trained ``Seq2Seq`` (``seqjax.decode``): ``make_translator`` decodes a
batch greedily, by sampling or with beam search; ``translate_batches`` turns a split into token
ids in split order; ``attention_weights`` gives the heat map of one translation."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from seqjax import decode
from seqjax.data.translate import BOS_ID, EOS_ID, PAD_ID
from seqjax.nn.seq2seq import Seq2Seq


def max_decode_length(source_length: int, a: float, b: int) -> int:
  """``a * S + b`` target tokens (``<eos>`` included) for a source of ``S`` tokens."""
  return max(1, int(a * source_length + b))


def decode_limits(src_lengths: Any, a: float, b: int) -> np.ndarray:
  """Each sentence's own ``max_decode_length`` (``[B]`` int32), from its own length: never from
  the padded width of its batch, so a translation does not depend on its batch-mates."""
  return np.asarray([max_decode_length(int(n), a, b) for n in np.asarray(src_lengths)],
                    np.int32)


def _force_eos_at_limit(logits: jax.Array, t: jax.Array, limit: jax.Array) -> jax.Array:
  """Rows whose step ``t`` (0-based) emits their ``limit``-th token may only emit ``<eos>``."""
  last = (t + 1 >= limit)[:, None]
  forced = jnp.full_like(logits, decode.NEG_INF).at[:, EOS_ID].set(0.0)
  return jnp.where(last, forced, logits)


def make_translator(model: Seq2Seq, *, beam_size: int = 1, alpha: float = 0.0,
                    max_len_a: float = 1.5, max_len_b: int = 10, temperature: float = 0.0,
                    top_k: int = 0, seed: int = 0) -> Callable:
  """``translate(params, src, src_lengths) -> tokens [B, L]`` (the best hypothesis; ``<eos>``
  then ``<pad>`` after it), jitted. ``beam_size=1`` is greedy decoding; with
  ``temperature > 0`` (and ``beam_size=1``) tokens are sampled instead (``top_k``: 0 for all),
  with a fresh key from ``seed`` at every call.

  Sentence ``i`` gets at most ``max_len_a * src_lengths[i] + max_len_b`` tokens, ``<eos>``
  included (``decode_limits``: the step that reaches the limit may only emit ``<eos>``), so a
  sentence decodes to the same tokens alone or in any batch. ``L`` is the limit of the
  batch's padded width."""
  if beam_size < 1:
    raise ValueError(f"decode.beam_size must be >= 1; got {beam_size}")
  if temperature < 0 or (temperature > 0 and beam_size > 1):
    raise ValueError(f"temperature must be >= 0, and sampling needs beam_size=1; got "
                     f"temperature={temperature}, beam_size={beam_size}")
  calls = [0]

  def run(params, src, src_lengths, limits, key, max_len):
    variables = {"params": params}
    memory, carry = model.apply(variables, src, src_lengths, method=Seq2Seq.encode)
    first = jnp.full((src.shape[0],), BOS_ID, jnp.int32)
    # The carry also counts each row's steps and holds its limit (beams copy both).
    carry = (carry, jnp.zeros_like(limits), limits)
    if beam_size == 1:
      def step(carry, tokens):
        inner, t, limit = carry
        logits, inner, _ = model.apply(variables, memory, inner, tokens,
                                       method=Seq2Seq.decode_step)
        return _force_eos_at_limit(logits, t, limit), (inner, t + 1, limit)
      tokens, _ = decode.sample(step, carry, first, max_len, key=key, temperature=temperature,
                                top_k=top_k, eos_id=EOS_ID, pad_id=PAD_ID)
      return tokens
    tiled = decode.tile_beams(memory, beam_size)

    def beam_step(carry, tokens):
      inner, t, limit = carry
      logits, inner, _ = model.apply(variables, tiled, inner, tokens,
                                     method=Seq2Seq.decode_step)
      return _force_eos_at_limit(logits, t, limit), (inner, t + 1, limit)
    tokens, _ = decode.beam_search(beam_step, carry, first, beam_size=beam_size,
                                   max_len=max_len, eos_id=EOS_ID, alpha=alpha, pad_id=PAD_ID)
    return tokens[:, 0]

  jitted = jax.jit(run, static_argnums=5)

  def translate(params, src, src_lengths):
    key = jax.random.fold_in(jax.random.PRNGKey(seed), calls[0])
    calls[0] += 1
    limits = decode_limits(src_lengths, max_len_a, max_len_b)
    # The loop's bound comes from the padded width (one compilation per width, as the batches
    # are bucketed); the rows' own limits end every row before it.
    return jitted(params, src, src_lengths, jnp.asarray(limits), key,
                  max_decode_length(src.shape[1], max_len_a, max_len_b))

  return translate


def translate_batches(translate: Callable, params: Any, batches: Iterable[dict],
                      num_examples: int) -> list[np.ndarray]:
  """Token ids of every example of a split, in split order (batches carry ``index``)."""
  out: list[Any] = [None] * num_examples
  for batch in batches:
    tokens = np.asarray(translate(params, batch["src"], batch["src_lengths"]))
    for row, i in enumerate(batch["index"]):
      if i >= 0:
        out[int(i)] = tokens[row]
  missing = [i for i, x in enumerate(out) if x is None]
  if missing:
    raise ValueError(f"translate_batches: examples {missing[:5]} were in no batch")
  return out


def attention_weights(model: Seq2Seq, params: Any, src: Sequence[int],
                      tgt: Sequence[int]) -> np.ndarray:
  """The attention ``[len(tgt) + 1, len(src)]`` of the decoder predicting ``tgt`` then
  ``<eos>`` from ``src`` (teacher forcing on ``tgt``, which is exact for a translation the
  model produced itself, since decoding is deterministic)."""
  src_ids = jnp.asarray([list(src)], jnp.int32)
  tgt_in = jnp.asarray([[BOS_ID] + list(tgt)], jnp.int32)
  _, weights = model.apply({"params": params}, src_ids, jnp.asarray([len(src)], jnp.int32),
                           tgt_in)
  return np.asarray(weights[0])
