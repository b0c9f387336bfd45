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
