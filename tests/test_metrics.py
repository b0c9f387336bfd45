import math

import pytest

from seqjax import metrics


def test_perplexity_and_bits_per_character_from_summed_nll():
  assert metrics.perplexity(5 * math.log(10.0), 5) == pytest.approx(10.0)
  assert metrics.bits_per_token(3 * math.log(2.0), 3) == pytest.approx(1.0)
  # A model that spreads probability uniformly over 65 symbols: log2(65) bits per character.
  assert metrics.bits_per_token(7 * math.log(65.0), 7) == pytest.approx(math.log2(65.0))
  assert metrics.accuracy(3, 4) == 0.75
