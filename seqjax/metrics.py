"""Sequence-model metrics: perplexity and bits per token from summed negative log-likelihoods
(natural log), accuracy, and corpus BLEU."""

from __future__ import annotations

import math
from typing import Sequence


def perplexity(nll_sum: float, count: float) -> float:
  """``exp(mean nll)``: the per-token perplexity of a word-level model.

  >>> round(perplexity(4.0 * 100, 100), 2)
  54.6

  A mean NLL too large for a float (above ~709.78 nats) gives ``inf``, not an overflow, and a
  non-finite one passes through, so a diverging run is reported rather than crashing:

  >>> perplexity(800.0, 1), perplexity(float("nan"), 1)
  (inf, nan)
  """
  mean = nll_sum / count
  if not math.isfinite(mean):
    return mean if mean != -math.inf else 0.0
  try:
    return math.exp(mean)
  except OverflowError:
    return math.inf


def bits_per_token(nll_sum: float, count: float) -> float:
  """``mean nll / ln 2``: bits per character for a character-level model.

  >>> round(bits_per_token(0.6931471805599453 * 10, 10), 6)
  1.0
  """
  return nll_sum / count / math.log(2.0)


def accuracy(correct: float, count: float) -> float:
  return correct / count


def bleu(hypotheses: Sequence[str], references: Sequence[str], *, lowercase: bool = False,
         tokenize: str = "13a") -> tuple[float, str]:
  """Corpus BLEU (Papineni et al. 2002) with sacrebleu on detokenized text, one reference per
  sentence: ``(score in [0, 100], sacrebleu signature)``. Report the signature with the score;
  ``lowercase=True`` is case-insensitive BLEU (``case:lc`` in the signature)."""
  import sacrebleu  # pylint: disable=g-import-not-at-top
  if len(hypotheses) != len(references):
    raise ValueError(f"bleu: {len(hypotheses)} hypotheses but {len(references)} references")
  if not hypotheses:
    raise ValueError("bleu: no sentences")
  metric = sacrebleu.metrics.BLEU(lowercase=lowercase, tokenize=tokenize)
  score = metric.corpus_score(list(hypotheses), [list(references)])
  return float(score.score), str(metric.get_signature())


def caption_bleu(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]],
                 max_order: int = 4) -> dict[str, float]:
  """Corpus BLEU-1..``max_order`` of tokenized captions against several references each
  (sacrebleu, no further tokenization; the brevity penalty uses each caption's closest reference
  length, as coco-caption's does): ``{"bleu1": ..., "bleu4": ...}`` in [0, 100]. Images may have
  different numbers of references.

  >>> scores = caption_bleu([["a", "red", "circle"]], [[["a", "red", "circle"], ["a", "cube"]]])
  >>> round(scores["bleu1"], 1), round(scores["bleu3"], 1)
  (100.0, 100.0)
  """
  import sacrebleu  # pylint: disable=g-import-not-at-top
  if len(hypotheses) != len(references):
    raise ValueError(f"caption_bleu: {len(hypotheses)} captions but {len(references)} "
                     "reference sets")
  if not hypotheses or any(not refs for refs in references):
    raise ValueError("caption_bleu: no captions, or an image without references")
  width = max(len(refs) for refs in references)
  streams = [[" ".join(refs[k]) if k < len(refs) else None for refs in references]
             for k in range(width)]
  hyps = [" ".join(h) for h in hypotheses]
  out = {}
  for n in range(1, max_order + 1):
    metric = sacrebleu.metrics.BLEU(tokenize="none", max_ngram_order=n)
    out[f"bleu{n}"] = float(metric.corpus_score(hyps, streams).score)
  return out


def _ngrams(words: Sequence[str], n: int) -> dict[tuple, int]:
  counts: dict[tuple, int] = {}
  for k in range(1, n + 1):
    for i in range(len(words) - k + 1):
      g = tuple(words[i:i + k])
      counts[g] = counts.get(g, 0) + 1
  return counts


def cider_d(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]],
            *, n: int = 4, sigma: float = 6.0) -> tuple[float, list[float]]:
  """CIDEr-D (Vedantam et al. 2015) as coco-caption computes it: ``(corpus score, per-image
  scores)``.

  For each n-gram order 1..``n``, a caption is a TF-IDF vector: term frequency times
  ``log(images) - log(max(1, df))``, ``df`` counting the images whose references hold the
  n-gram (over the evaluated corpus). An image scores the mean over its references and over
  the orders of the cosine similarity with the caption's counts clipped to the reference's,
  times ``exp(-(l_c - l_r)^2 / (2 sigma^2))``, times 10. (The lengths ``l`` are coco-caption's:
  the number of bigrams.)
  """
  if len(hypotheses) != len(references):
    raise ValueError(f"cider_d: {len(hypotheses)} captions but {len(references)} reference "
                     "sets")
  if not hypotheses or any(not refs for refs in references):
    raise ValueError("cider_d: no captions, or an image without references")
  ref_counts = [[_ngrams(r, n) for r in refs] for refs in references]
  df: dict[tuple, int] = {}
  for counts in ref_counts:
    for g in set().union(*counts):
      df[g] = df.get(g, 0) + 1
  log_images = math.log(float(len(references)))

  def vector(counts):
    vec = [{} for _ in range(n)]
    norm = [0.0] * n
    length = 0
    for g, tf in counts.items():
      k = len(g) - 1
      v = float(tf) * (log_images - math.log(max(1.0, df.get(g, 0.0))))
      vec[k][g] = v
      norm[k] += v * v
      if k == 1:
        length += tf
    return vec, [math.sqrt(x) for x in norm], length

  scores = []
  for hyp, counts in zip(hypotheses, ref_counts):
    vh, nh, lh = vector(_ngrams(hyp, n))
    total = [0.0] * n
    for rc in counts:
      vr, nr, lr = vector(rc)
      penalty = math.exp(-((lh - lr) ** 2) / (2.0 * sigma ** 2))
      for k in range(n):
        val = sum(min(v, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, v in vh[k].items())
        if nh[k] != 0 and nr[k] != 0:
          val /= nh[k] * nr[k]
        total[k] += val * penalty
    scores.append(sum(total) / n / len(counts) * 10.0)
  return sum(scores) / len(scores), scores
