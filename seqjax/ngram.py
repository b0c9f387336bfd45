r"""Interpolated modified Kneser–Ney n-gram language model (Chen & Goodman 1998), in NumPy.

The count-based baseline the RNN LMs are compared with (Mikolov et al. 2011: KN-5 on PTB).
Sentences are modelled one at a time, as SRILM does: ``<s> w_1 … w_m </s>``; every word and
the ``</s>`` are predicted (``<s>`` only conditions), i.e. each word and each ``<eos>`` of an RNN
LM's token stream (the stream's very first token included). N-grams never cross a sentence
boundary.

For the highest order, with counts ``c``:

    P(w | h) = max(c(hw) − D(c(hw)), 0) / c(h·) + γ(h) P(w | h'),
    γ(h) = (D₁ N₁(h·) + D₂ N₂(h·) + D₃₊ N₃₊(h·)) / c(h·)

where ``h'`` drops the oldest word of ``h``, ``N_j(h·)`` counts the words seen after ``h``
exactly ``j`` times (``N₃₊``: three or more) and ``c(h·) = Σ_w c(hw)``. Lower orders use the same
formula on continuation counts ``N₁₊(·hw)`` (the number of distinct words seen before ``hw``),
except for n-grams that start with ``<s>``, which cannot be extended to the left and keep their
counts (as SRILM). The unigrams interpolate with the uniform distribution over the predicted
vocabulary. A context never seen in training passes its whole mass to the next lower order.
The discounts of each order come from its count-of-counts ``n_j``:
``Y = n₁ / (n₁ + 2 n₂)``, ``D_j = j − (j + 1) Y n_{j+1} / n_j`` (``j = 1, 2, 3``).

Counts are gathered with NumPy only: the k-grams of every order get dense ids from the ids of
their (k−1)-gram contexts (``id(h) · V + w``), so no key ever exceeds int64.

>>> sents = [[1, 2, 3], [1, 2, 2], [3, 1]]
>>> lm = KneserNey.fit(sents, order=3, vocab_size=4)
>>> p = lm.next_distribution([1, 2])   # P(· | 1 2), over ids 0..3 and </s> (id 4)
>>> round(float(p.sum()), 6)
1.0
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np


@dataclasses.dataclass
class _Order:
  """The k-gram types of one order ``k`` and what the model needs of them."""
  keys: np.ndarray  # [G] sorted int64: id(context (k-1)-gram) * V + last word (k = 1: the word)
  context: np.ndarray  # [G] id of the (k-1)-gram context (k = 1: 0)
  suffix: np.ndarray  # [G] id of the (k-1)-gram without the oldest word (k = 1: -1)
  first: np.ndarray  # [G] the oldest token
  counts: np.ndarray  # [G] the counts used at this order (raw, or continuation counts)
  discounts: np.ndarray  # [4]: D(0) = 0, D(1), D(2), D(3+)
  context_total: np.ndarray  # [C] Σ_w counts(h w) per context id
  context_gamma: np.ndarray  # [C] D1 N1(h·) + D2 N2(h·) + D3 N3+(h·) per context id


def discounts_of(counts: np.ndarray) -> np.ndarray:
  """``[0, D1, D2, D3+]`` from the count-of-counts of ``counts`` (Chen & Goodman, eq. 26).
  An order with too few distinct counts to estimate them falls back to 0.5 / 1 / 1.5."""
  n = [int(np.sum(counts == j)) for j in (1, 2, 3, 4)]
  if min(n) == 0:
    return np.array([0.0, 0.5, 1.0, 1.5])
  y = n[0] / (n[0] + 2 * n[1])
  d = [j - (j + 1) * y * n[j] / n[j - 1] for j in (1, 2, 3)]
  return np.array([0.0] + [min(max(x, 0.0), float(j)) for j, x in zip((1, 2, 3), d)])


class KneserNey:
  """A trained model: ``fit`` it on sentences of token ids ``0 .. vocab_size-1``; ``</s>`` is
  id ``vocab_size`` and ``<s>`` id ``vocab_size + 1`` (both added here)."""

  def __init__(self, orders: list[_Order], vocab_size: int):
    self.orders = orders
    self.order = len(orders)
    self.vocab_size = vocab_size
    self.eos, self.bos = vocab_size, vocab_size + 1
    self.base = vocab_size + 2  # the key base V

  # ---- training ------------------------------------------------------------------------------
  @classmethod
  def fit(cls, sentences: Iterable[Sequence[int]], order: int, vocab_size: int) -> "KneserNey":
    if order < 1:
      raise ValueError(f"order must be >= 1; got {order}")
    tokens, starts = _stream(sentences, vocab_size)
    base = vocab_size + 2
    bos = vocab_size + 1
    offset = np.arange(len(tokens)) - starts  # position within its sentence (<s> at 0)
    predicted = tokens != bos
    ids_prev = None
    raw: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    ids_by_order = []
    for k in range(1, order + 1):
      valid = offset >= k - 1  # the k-gram ending here lies inside the sentence
      if k == 1:
        keys_at = tokens.astype(np.int64)
        context_at = np.zeros(len(tokens), np.int64)
      else:
        context_at = np.full(len(tokens), -1, np.int64)
        context_at[1:] = ids_prev[:-1]
        keys_at = context_at * base + tokens
      keys, ids = np.unique(np.where(valid, keys_at, -1), return_inverse=True)
      if keys[0] == -1:  # the invalid positions' placeholder
        keys, ids = keys[1:], ids - 1
      ids = np.where(valid, ids, -1)
      counts = np.bincount(ids[valid & predicted], minlength=len(keys)).astype(np.int64)
      context = keys // base if k > 1 else np.zeros(len(keys), np.int64)
      words = keys % base if k > 1 else keys
      if k == 1:
        suffix = np.full(len(keys), -1, np.int64)
        first = keys.copy()
      else:
        # The suffix of the k-gram ending at i is the (k-1)-gram ending at i.
        suffix = np.full(len(keys), -1, np.int64)
        suffix[ids[valid]] = ids_by_order[-1][valid]
        first = raw[-1][3][context]
      raw.append((keys, context, suffix, first, counts, words))
      ids_by_order.append(ids)
      ids_prev = ids
    orders = []
    for k in range(1, order + 1):
      keys, context, suffix, first, counts, _ = raw[k - 1]
      if k < order:  # continuation counts N1+(. g), except for n-grams starting with <s>
        higher_suffix = raw[k][2]
        cont = np.bincount(higher_suffix, minlength=len(keys)).astype(np.int64)
        use = np.where(first == bos, counts, cont)
      else:
        use = counts
      if k == 1:
        use = np.where(keys == bos, 0, use)  # <s> is never predicted
      d = discounts_of(use[use > 0])
      n_contexts = 1 if k == 1 else len(raw[k - 2][0])
      total = np.bincount(context, weights=use, minlength=n_contexts)
      gamma = np.bincount(context, weights=d[np.minimum(use, 3)] * (use > 0),
                          minlength=n_contexts)
      orders.append(_Order(keys=keys, context=context, suffix=suffix, first=first, counts=use,
                           discounts=d, context_total=total, context_gamma=gamma))
    return cls(orders, vocab_size)

  # ---- scoring -------------------------------------------------------------------------------
  def _lookup(self, k: int, keys: np.ndarray) -> np.ndarray:
    """Type ids of order-``k`` keys (-1 where unseen; a negative key is unseen)."""
    table = self.orders[k - 1].keys
    pos = np.clip(np.searchsorted(table, keys), 0, len(table) - 1)
    return np.where((keys >= 0) & (table[pos] == keys), pos, -1)

  def _interpolate(self, k: int, ctx: np.ndarray, word_ids: np.ndarray,
                   lower: np.ndarray) -> np.ndarray:
    """``P_k(w | ctx)`` from ``P_{k-1}``: ``ctx`` context ids (-1 unseen), ``word_ids`` order-k
    type ids of (ctx, w) (-1 unseen)."""
    o = self.orders[k - 1]
    seen = ctx >= 0
    safe_ctx = np.where(seen, ctx, 0)
    total = np.where(seen, o.context_total[safe_ctx], 0.0)
    c = np.where(word_ids >= 0, o.counts[np.maximum(word_ids, 0)], 0)
    kept = np.maximum(c - o.discounts[np.minimum(c, 3)], 0.0)
    mixed = (kept + o.context_gamma[safe_ctx] * lower) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, mixed, lower)

  def sentence_log_probs(self, sentences: Iterable[Sequence[int]]) -> np.ndarray:
    """Natural-log probabilities of every predicted token (each word and each ``</s>``), in
    order: ``[Σ (len(s) + 1)]``."""
    tokens, starts = _stream(sentences, self.vocab_size)
    offset = np.arange(len(tokens)) - starts
    predicted = tokens != self.bos
    uni_ids = self._lookup(1, tokens.astype(np.int64))
    uniform = 1.0 / (self.vocab_size + 1)  # the words and </s>
    p = self._interpolate(1, np.zeros(len(tokens), np.int64), uni_ids,
                          np.full(len(tokens), uniform))
    ids_prev = uni_ids
    for k in range(2, self.order + 1):
      ctx = np.full(len(tokens), -1, np.int64)
      ctx[1:] = ids_prev[:-1]
      ctx = np.where(offset >= k - 1, ctx, -1)
      keys = np.where(ctx >= 0, ctx * self.base + tokens, -1)
      ids = self._lookup(k, keys)
      p_k = self._interpolate(k, ctx, ids, p)
      p = np.where(offset >= k - 1, p_k, p)  # the sentence start caps the order
      ids_prev = ids
    return np.log(p[predicted])

  def next_distribution(self, context: Sequence[int]) -> np.ndarray:
    """``P(w | context)`` for every ``w`` in ``0 .. vocab_size`` (``</s>`` last); the context is
    the start of a sentence (``<s>`` is prepended)."""
    n = len(context)
    words = [list(context) + [w] for w in range(self.vocab_size)]
    logp = self.sentence_log_probs(words).reshape(self.vocab_size, n + 2)[:, n]
    end = self.sentence_log_probs([list(context)])[n]
    return np.exp(np.append(logp, end))

  def perplexity(self, sentences: Iterable[Sequence[int]]) -> tuple[float, int]:
    """``(exp(mean NLL), tokens scored)``."""
    logp = self.sentence_log_probs(sentences)
    return math.exp(-float(np.mean(logp))), int(len(logp))


def _stream(sentences: Iterable[Sequence[int]], vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
  """``<s> s_1 </s> <s> s_2 </s> …`` as one int64 array, and each position's sentence start."""
  bos, eos = vocab_size + 1, vocab_size
  parts, starts = [], []
  at = 0
  for s in sentences:
    s = np.asarray(s, np.int64)
    if s.size and (s.min() < 0 or s.max() >= vocab_size):
      raise ValueError(f"token ids must lie in [0, {vocab_size}); got {s.min()}..{s.max()}")
    row = np.concatenate([[bos], s, [eos]])
    parts.append(row)
    starts.append(np.full(len(row), at, np.int64))
    at += len(row)
  if not parts:
    raise ValueError("no sentences")
  return np.concatenate(parts), np.concatenate(starts)
