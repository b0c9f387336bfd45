r"""Attention over a memory of encoder states, as pure functions (no Flax).

A decoder query ``q: [B, Dq]`` reads a memory of ``S`` source positions, ``keys: [B, S, Dk]``
and ``values: [B, S, Dv]`` (in seq2seq both are the encoder outputs), under a source mask
``mask: [B, S]`` (True/1 at real positions)::

    e_s = score(q, k_s)                          for s = 1..S
    α = softmax(e) over the unmasked positions   (masked positions get weight exactly 0)
    c = Σ_s α_s v_s                              the context, [B, Dv]

Score functions (``SCORES``):

- ``additive`` (Bahdanau et al. 2015, "concat"/MLP): ``e_s = v·tanh(W_q q + W_k k_s + b)``,
  ``W_q: [Dq, A]``, ``W_k: [Dk, A]``, ``b, v: [A]``.
- ``bilinear`` (Luong et al. 2015, "general"): ``e_s = q·(W k_s)``, ``W: [Dq, Dk]``.
- ``dot`` (Luong "dot"): ``e_s = q·k_s``; needs ``Dq == Dk``.
- ``scaled_dot`` (Vaswani et al. 2017): ``e_s = q·k_s / √Dk``; needs ``Dq == Dk``.

The key half of a score does not depend on the query, so ``project_keys`` computes it once per
source sentence (``W_k k_s + b`` for additive, ``k_s Wᵀ`` for bilinear) and the decoder loop
reuses it at every step. ``attend`` also accepts queries with a time axis, ``q: [B, T, Dq]``
(all decoder steps at once when the queries do not depend on earlier contexts).

Parameters are plain dicts of arrays (``{}`` for ``dot``/``scaled_dot``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]


def _uniform(key: jax.Array, shape: tuple[int, ...], fan_in: int, dtype: Any) -> jax.Array:
  bound = 1.0 / math.sqrt(fan_in)
  return jax.random.uniform(key, shape, dtype, -bound, bound)


# -------------------------------------------------------------------------------- additive


def init_additive(key: jax.Array, query_size: int, key_size: int, attention_size: int,
                  dtype: Any = jnp.float32) -> Params:
  kq, kk, kb, kv = jax.random.split(key, 4)
  return {"w_query": _uniform(kq, (query_size, attention_size), query_size, dtype),
          "w_key": _uniform(kk, (key_size, attention_size), key_size, dtype),
          "bias": _uniform(kb, (attention_size,), key_size, dtype),
          "v": _uniform(kv, (attention_size,), attention_size, dtype)}


def project_keys_additive(params: Params, keys: jax.Array) -> jax.Array:
  """``W_k k_s + b``: ``[B, S, Dk] -> [B, S, A]``."""
  return keys @ params["w_key"] + params["bias"][None, None, :]


def additive(params: Params, query: jax.Array, projected_keys: jax.Array) -> jax.Array:
  """``v·tanh(W_q q + W_k k_s + b)``: ``q: [B, Dq]``, projected keys ``[B, S, A]`` -> ``[B, S]``."""
  hidden = jnp.tanh(projected_keys + (query @ params["w_query"])[:, None, :])
  return hidden @ params["v"]


# -------------------------------------------------------------------------------- bilinear


def init_bilinear(key: jax.Array, query_size: int, key_size: int, attention_size: int = 0,
                  dtype: Any = jnp.float32) -> Params:
  del attention_size
  return {"w": _uniform(key, (query_size, key_size), key_size, dtype)}


def project_keys_bilinear(params: Params, keys: jax.Array) -> jax.Array:
  """``k_s Wᵀ``: ``[B, S, Dk] -> [B, S, Dq]``, so the score is a dot product with ``q``."""
  return keys @ params["w"].T


# ------------------------------------------------------------------------------ dot, scaled


def init_none(key: jax.Array, query_size: int, key_size: int, attention_size: int = 0,
              dtype: Any = jnp.float32) -> Params:
  del key, attention_size, dtype
  if query_size != key_size:
    raise ValueError(f"attention: dot scores need query size == key size; got {query_size} "
                     f"and {key_size} (use 'bilinear' or 'additive')")
  return {}


def project_keys_identity(params: Params, keys: jax.Array) -> jax.Array:
  del params
  return keys


def dot(params: Params, query: jax.Array, projected_keys: jax.Array) -> jax.Array:
  """``q·k_s``: ``q: [B, D]``, keys ``[B, S, D]`` -> ``[B, S]`` (also the bilinear score after
  ``project_keys_bilinear``)."""
  del params
  return jnp.einsum("bd,bsd->bs", query, projected_keys)


def scaled_dot(params: Params, query: jax.Array, projected_keys: jax.Array) -> jax.Array:
  """``q·k_s / √D``."""
  return dot(params, query, projected_keys) / math.sqrt(query.shape[-1])


class Score(NamedTuple):
  """One score function: its parameters, its key half, and the score itself."""
  init: Callable[..., Params]
  project_keys: Callable[[Params, jax.Array], jax.Array]
  score: Callable[[Params, jax.Array, jax.Array], jax.Array]


SCORES: dict[str, Score] = {
    "additive": Score(init_additive, project_keys_additive, additive),
    "bilinear": Score(init_bilinear, project_keys_bilinear, dot),
    "dot": Score(init_none, project_keys_identity, dot),
    "scaled_dot": Score(init_none, project_keys_identity, scaled_dot),
}


def get(name: str) -> Score:
  if name not in SCORES:
    raise ValueError(f"unknown attention score {name!r}; expected one of {sorted(SCORES)}")
  return SCORES[name]


def init(name: str, key: jax.Array, query_size: int, key_size: int, attention_size: int = 0,
         dtype: Any = jnp.float32) -> Params:
  """Parameters of score ``name`` (``attention_size`` is A of ``additive``; 0 means Dq)."""
  return get(name).init(key, query_size, key_size, attention_size or query_size, dtype)


def masked_softmax(scores: jax.Array, mask: jax.Array) -> jax.Array:
  """Softmax over the last axis where ``mask``; masked entries are exactly 0 (a fully masked row
  is all zeros rather than NaN).

  >>> import jax.numpy as jnp
  >>> masked_softmax(jnp.zeros((2, 4)), jnp.array([[1, 1, 0, 0], [0, 0, 0, 0]]))
  Array([[0.5, 0.5, 0. , 0. ],
         [0. , 0. , 0. , 0. ]], dtype=float32)
  """
  mask = mask.astype(bool)
  scores = jnp.where(mask, scores.astype(jnp.float32), -jnp.inf)
  top = jnp.max(scores, axis=-1, keepdims=True)
  top = jnp.where(jnp.isfinite(top), top, 0.0)
  e = jnp.where(mask, jnp.exp(scores - top), 0.0)
  total = jnp.sum(e, axis=-1, keepdims=True)
  return e / jnp.where(total > 0, total, 1.0)


def attend(name: str, params: Params, query: jax.Array, keys: jax.Array, values: jax.Array,
           mask: jax.Array, *, projected_keys: Optional[jax.Array] = None
           ) -> tuple[jax.Array, jax.Array]:
  """``(context, weights)`` of query ``[B, Dq]`` (or ``[B, T, Dq]``) over ``keys: [B, S, Dk]``,
  ``values: [B, S, Dv]``, ``mask: [B, S]``.

  Returns ``context: [B, Dv]`` and ``weights: [B, S]`` (``[B, T, Dv]`` and ``[B, T, S]`` for
  a time axis). Pass ``projected_keys = project_keys(params, keys)`` to reuse it across steps.
  """
  score = get(name)
  if keys.ndim != 3 or values.ndim != 3 or keys.shape[:2] != values.shape[:2]:
    raise ValueError(f"attend: keys and values must be [B, S, D] with equal B, S; got "
                     f"{keys.shape} and {values.shape}")
  if mask.shape != keys.shape[:2]:
    raise ValueError(f"attend: mask must have shape [B, S] = {keys.shape[:2]}; got {mask.shape}")
  if query.ndim not in (2, 3) or query.shape[0] != keys.shape[0]:
    raise ValueError(f"attend: query must be [B, Dq] or [B, T, Dq] with B = {keys.shape[0]}; "
                     f"got {query.shape}")
  if projected_keys is None:
    projected_keys = score.project_keys(params, keys)

  def one(q):
    weights = masked_softmax(score.score(params, q, projected_keys), mask)
    context = jnp.einsum("bs,bsd->bd", weights.astype(values.dtype), values)
    return context, weights

  if query.ndim == 2:
    return one(query)
  return jax.vmap(one, in_axes=1, out_axes=1)(query)


def project_keys(name: str, params: Params, keys: jax.Array) -> jax.Array:
  return get(name).project_keys(params, keys)
