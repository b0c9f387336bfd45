import math

import pytest

from seqjax import metrics


def test_perplexity_and_bits_per_character_from_summed_nll():
  assert metrics.perplexity(5 * math.log(10.0), 5) == pytest.approx(10.0)
  assert metrics.bits_per_token(3 * math.log(2.0), 3) == pytest.approx(1.0)
  # A model that spreads probability uniformly over 65 symbols: log2(65) bits per character.
  assert metrics.bits_per_token(7 * math.log(65.0), 7) == pytest.approx(math.log2(65.0))
  assert metrics.accuracy(3, 4) == 0.75


def test_bleu_of_identical_corpora_is_100_and_signature_is_reported():
  refs = ["A man rides a bike.", "Two dogs play in the snow."]
  score, signature = metrics.bleu(refs, refs)
  assert score == pytest.approx(100.0)
  assert "tok:13a" in signature and "case:mixed" in signature
  score, signature = metrics.bleu([r.lower() for r in refs], refs, lowercase=True)
  assert score == pytest.approx(100.0) and "case:lc" in signature


def test_bleu_matches_the_papineni_formula():
  # Precisions 4/6, 1/5, 0/4, 0/3 with sacrebleu's default "exp" smoothing of zero counts
  # (the k-th zero becomes 1 / (2^k * total)): BLEU = 100 * (4/6 * 1/5 * 1/8 * 1/12)^(1/4).
  hyp, ref = ["the cat sat on a mat"], ["the cat is on the mat"]
  score, _ = metrics.bleu(hyp, ref)
  assert score == pytest.approx(100.0 * ((4 / 6) * 0.2 * (1 / 8) * (1 / 12)) ** 0.25, rel=1e-6)
  # Brevity penalty: a hypothesis shorter than its reference is penalised by exp(1 - r/c).
  full = metrics.bleu(["a b c d e f g h"], ["a b c d e f g h"])[0]
  short = metrics.bleu(["a b c d"], ["a b c d e f g h"])[0]
  assert full == pytest.approx(100.0)
  assert short == pytest.approx(100.0 * math.exp(1 - 8 / 4), rel=1e-6)


def test_bleu_needs_one_reference_per_hypothesis():
  with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
    metrics.bleu(["a", "b"], ["a"])
