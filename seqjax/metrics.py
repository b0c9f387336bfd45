"""Sequence-model metrics from summed negative log-likelihoods (natural log)."""

from __future__ import annotations

import math


def perplexity(nll_sum: float, count: float) -> float:
  """``exp(mean nll)``: the per-token perplexity of a word-level model."""
  return math.exp(nll_sum / count)


def bits_per_token(nll_sum: float, count: float) -> float:
  """``mean nll / ln 2``: bits per character for a character-level model."""
  return nll_sum / count / math.log(2.0)


def accuracy(correct: float, count: float) -> float:
  return correct / count
