"""Next-item recommendation: ranking metrics and the non-neural baselines of GRU4Rec's paper.

- ``target_ranks``: the rank of each target among all items, ties counted at their middle
  (``greater + (equal + 1) / 2``), so a baseline that scores many items equally (popularity,
  an item with few neighbours) gains nothing from the tie order.
- ``recall_mrr``: Recall@K (the target ranks within K) and MRR@K (``1 / rank`` when within K,
  else 0), averaged over the examples.
- ``popularity_scores``: POP, the training views of every item, the same list for everyone.
- ``ItemKNN``: item-to-item cosine similarity of session co-occurrence (Linden et al. 2003 as
  GRU4Rec's baseline): ``sim(i, j) = n_ij / (sqrt(n_i n_j) + λ)`` with ``n_ij`` the sessions
  holding both items, ``n_i`` those holding ``i``; an item is never its own neighbour. It
  recommends the neighbours of the session's last item.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse


def target_ranks(scores: jax.Array, targets: jax.Array) -> jax.Array:
  """``scores [..., I], targets [...]`` -> 1-based mid-ranks ``[...]`` (float32)."""
  s = jnp.take_along_axis(scores, targets[..., None], axis=-1)
  greater = jnp.sum(scores > s, axis=-1)
  equal = jnp.sum(scores == s, axis=-1)
  return greater.astype(jnp.float32) + (equal.astype(jnp.float32) + 1.0) / 2.0


def recall_mrr(ranks: np.ndarray, k: int = 20) -> dict[str, float]:
  """``{"recall@k", "mrr@k", "count"}`` of 1-based ranks."""
  ranks = np.asarray(ranks, np.float64)
  if ranks.size == 0:
    raise ValueError("recall_mrr: no examples")
  hit = ranks <= k
  return {f"recall@{k}": float(hit.mean()),
          f"mrr@{k}": float(np.where(hit, 1.0 / ranks, 0.0).mean()), "count": int(ranks.size)}


def popularity_scores(sessions: Sequence[np.ndarray], num_items: int) -> np.ndarray:
  """POP: views of every item in ``sessions``."""
  return np.bincount(np.concatenate(sessions), minlength=num_items).astype(np.float32)


class ItemKNN:
  """Session co-occurrence cosine similarity (see the module docstring)."""

  def __init__(self, sessions: Sequence[np.ndarray], num_items: int, *, lam: float = 20.0):
    rows = np.concatenate([np.full(len(np.unique(s)), k) for k, s in enumerate(sessions)])
    cols = np.concatenate([np.unique(s) for s in sessions])
    m = scipy.sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                                shape=(len(sessions), num_items))
    co = (m.T @ m).tocsr()  # n_ij, with n_i on the diagonal
    support = co.diagonal().astype(np.float64)
    co.setdiag(0)
    co.eliminate_zeros()
    coo = co.tocoo()
    values = coo.data / (np.sqrt(support[coo.row] * support[coo.col]) + lam)
    self.sim = scipy.sparse.csr_matrix((values.astype(np.float32), (coo.row, coo.col)),
                                       shape=(num_items, num_items))

  def scores(self, last_items: np.ndarray) -> np.ndarray:
    """``[N]`` last items -> ``[N, I]`` similarity scores (dense)."""
    return np.asarray(self.sim[np.asarray(last_items)].todense())


def evaluate_scores(score_fn, prefixes: Sequence[np.ndarray], targets: np.ndarray, *,
                    k: int = 20, chunk: int = 1024) -> dict[str, float]:
  """Recall@k and MRR@k of ``score_fn(prefixes chunk) -> [n, I]`` scores over all examples."""
  ranks = []
  for start in range(0, len(targets), chunk):
    scores = score_fn(prefixes[start:start + chunk])
    ranks.append(np.asarray(target_ranks(jnp.asarray(scores),
                                         jnp.asarray(targets[start:start + chunk]))))
  return recall_mrr(np.concatenate(ranks), k)
