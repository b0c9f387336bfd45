"""word2vec with negative sampling (Mikolov et al. 2013), as pure functions over
``{"input": [V, D], "output": [V, D]}`` (``word2vec.c``'s ``syn0`` and ``syn1neg``).

For an input vector ``v`` (skip-gram: the center word's input vector; CBOW: the mean of the
context words' input vectors), the target word ``o`` and ``K`` noise words ``n_k``:

    loss = -log σ(u_o · v) - Σ_k log σ(-u_{n_k} · v)

Noise words equal to the target are masked out (``word2vec.c`` skips them).
``sparse_sgd_step`` applies plain SGD to only the rows a batch touches (scatter-add into the
tables, as ``word2vec.c`` does; the dense gradient of a ``[V, D]`` table per step would cost
more than the whole update). ``nearest`` and ``analogy`` query the normalised input vectors.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp


def init(key: jax.Array, vocab_size: int, features: int) -> dict[str, jax.Array]:
  """``word2vec.c``'s initialisation: input vectors ``U(-0.5/D, 0.5/D)``, output vectors 0."""
  bound = 0.5 / features
  return {"input": jax.random.uniform(key, (vocab_size, features), jnp.float32, -bound, bound),
          "output": jnp.zeros((vocab_size, features), jnp.float32)}


def input_vectors(table: jax.Array, inputs: jax.Array,
                  input_mask: Optional[jax.Array] = None) -> jax.Array:
  """Skip-gram ``inputs [B]`` -> ``[B, D]``; CBOW ``inputs [B, C]`` with ``input_mask [B, C]``
  -> the mean of the valid context vectors."""
  if inputs.ndim == 1:
    return table[inputs]
  if input_mask is None:
    raise ValueError("input_vectors: CBOW inputs [B, C] need input_mask [B, C]")
  m = input_mask.astype(table.dtype)
  return jnp.einsum("bcd,bc->bd", table[inputs], m) / jnp.maximum(m.sum(-1), 1.0)[:, None]


def loss_terms(v: jax.Array, u_pos: jax.Array, u_neg: jax.Array,
               neg_mask: jax.Array) -> jax.Array:
  """``[B]`` negative-sampling losses from ``v, u_pos [B, D]``, ``u_neg [B, K, D]``."""
  pos = jax.nn.log_sigmoid(jnp.sum(v * u_pos, -1))
  neg = jax.nn.log_sigmoid(-jnp.einsum("bd,bkd->bk", v, u_neg))
  return -(pos + jnp.sum(neg * neg_mask, -1))


def loss(params: dict[str, jax.Array], batch: dict[str, jax.Array],
         negatives: jax.Array) -> jax.Array:
  """Per-example losses ``[B]`` (``batch``: ``inputs``, optional ``input_mask``,
  ``targets``; ``negatives [B, K]``)."""
  v = input_vectors(params["input"], batch["inputs"], batch.get("input_mask"))
  neg_mask = (negatives != batch["targets"][:, None]).astype(v.dtype)
  return loss_terms(v, params["output"][batch["targets"]], params["output"][negatives],
                    neg_mask)


def sparse_sgd_step(params: dict[str, jax.Array], batch: dict[str, jax.Array],
                    negatives: jax.Array, learning_rate: jax.Array) -> tuple[dict, jax.Array]:
  """One SGD step on the summed batch loss, touching only the gathered rows. Returns the new
  tables and the mean loss. Gradients are taken w.r.t. the gathered vectors and scattered
  back with ``.at[].add`` (repeated rows accumulate, like Hogwild updates in one batch)."""
  inputs, targets = batch["inputs"], batch["targets"]
  mask = batch.get("input_mask")
  v = input_vectors(params["input"], inputs, mask)
  u_pos, u_neg = params["output"][targets], params["output"][negatives]
  neg_mask = (negatives != targets[:, None]).astype(v.dtype)
  losses, grads = jax.value_and_grad(
      lambda v, p, n: jnp.sum(loss_terms(v, p, n, neg_mask)), argnums=(0, 1, 2))(v, u_pos, u_neg)
  g_v, g_pos, g_neg = grads
  d = params["output"].shape[1]
  out = params["output"].at[targets].add(-learning_rate * g_pos)
  out = out.at[negatives.reshape(-1)].add(-learning_rate * g_neg.reshape(-1, d))
  if inputs.ndim == 1:
    inp = params["input"].at[inputs].add(-learning_rate * g_v)
  else:  # d mean / d x_c = m_c / count
    m = mask.astype(v.dtype)
    share = m / jnp.maximum(m.sum(-1, keepdims=True), 1.0)
    inp = params["input"].at[inputs.reshape(-1)].add(
        -learning_rate * (share[..., None] * g_v[:, None, :]).reshape(-1, d))
  return {"input": inp, "output": out}, losses / targets.shape[0]


def normalized(table: jax.Array) -> jax.Array:
  return table / jnp.maximum(jnp.linalg.norm(table, axis=-1, keepdims=True), 1e-8)


def nearest(unit: jax.Array, queries: jax.Array, k: int,
            exclude: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """Cosine ``(scores [Q, k], ids [Q, k])`` of the rows of ``unit`` (normalised vectors)
  closest to ``queries [Q, D]``, leaving out ids ``exclude [Q, E]``."""
  scores = normalized(queries) @ unit.T
  if exclude is not None:
    rows = jnp.arange(scores.shape[0])[:, None]
    scores = scores.at[rows, exclude].set(-jnp.inf)
  return jax.lax.top_k(scores, k)


def analogy(unit: jax.Array, a: jax.Array, a2: jax.Array, b: jax.Array,
            k: int = 1) -> jax.Array:
  """3CosAdd (Mikolov et al. 2013): the ``k`` ids closest to ``a2 - a + b`` (the three
  question words excluded), ``[Q, k]``."""
  query = unit[a2] - unit[a] + unit[b]
  return nearest(unit, query, k, exclude=jnp.stack([a, a2, b], -1))[1]


def check_params(params: Any) -> None:
  if not (isinstance(params, dict) and set(params) == {"input", "output"}):
    raise ValueError("word2vec params must be {'input': [V, D], 'output': [V, D]}")
