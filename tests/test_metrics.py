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


def test_caption_bleu_with_several_references_matches_a_hand_computation():
  hyp = "a red circle above a blue square".split()
  refs = ["a red circle is above a blue square".split(),
          "the blue square is below the red circle".split()]
  s = metrics.caption_bleu([hyp], [refs])
  # Unigrams: all 7 match (clipped by the reference holding "a" twice); bigrams: 5 of 6
  # ("circle above" is in neither). Brevity: 7 words against the closest reference length 8.
  bp = math.exp(1.0 - 8.0 / 7.0)
  assert s["bleu1"] == pytest.approx(100.0 * bp, abs=1e-9)
  assert s["bleu2"] == pytest.approx(100.0 * bp * math.sqrt(5.0 / 6.0), abs=1e-9)
  # Trigrams: "a red circle", "above a blue", "a blue square" of 5; 4-grams: "above a blue
  # square" of 4.
  assert s["bleu4"] == pytest.approx(100.0 * bp * (1.0 * 5 / 6 * 3 / 5 * 1 / 4) ** 0.25,
                                     abs=1e-9)
  # Images may have different numbers of references; the second reference set is used too.
  two = metrics.caption_bleu([hyp, ["two", "squares"]], [refs, [["two", "squares"]]])
  assert two["bleu1"] == pytest.approx(100.0 * math.exp(1.0 - 10.0 / 9.0))
  with pytest.raises(ValueError, match="an image without references"):
    metrics.caption_bleu([hyp], [[]])


def test_cider_d_matches_a_hand_computation():
  # Two images, one reference each. Every n-gram occurs in one image: idf = log 2 for all.
  # Image 1's caption is its reference: cosine 1 for unigrams and bigrams, no 3- or 4-grams
  # (zero vectors count 0): 10 * (1 + 1 + 0 + 0) / 4 = 5. Image 2's caption "x w" shares "w"
  # with "z w": unigram cosine (log 2)^2 / (sqrt 2 log 2)^2 = 1/2, no bigram: 10 * 0.5 / 4.
  score, per_image = metrics.cider_d([["x", "y"], ["x", "w"]], [[["x", "y"]], [["z", "w"]]])
  assert per_image == pytest.approx([5.0, 1.25])
  assert score == pytest.approx(3.125)
  # Repeating a word beyond the reference's count earns nothing (clipping), and the length
  # penalty exp(-(bigrams difference)^2 / 72) applies.
  _, (clipped, _) = metrics.cider_d([["x", "y", "y", "y"], ["z"]], [[["x", "y"]], [["z", "w"]]])
  unigram = (math.log(2) ** 2 * 2) / (math.sqrt(10) * math.log(2) * math.sqrt(2) * math.log(2))
  bigram = (math.log(2) ** 2) / (math.sqrt(5) * math.log(2) * math.log(2))  # "x y" 1, "y y" 2
  assert clipped == pytest.approx(10 * (unigram + bigram) / 4 * math.exp(-4 / 72))
