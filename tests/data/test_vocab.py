import numpy as np
import pytest

from seqjax.data.vocab import Vocabulary, characters, get_tokenizer, whitespace_eos


def test_build_orders_by_count_then_alphabet_and_respects_limits():
  tokens = "b a c a b a d".split()
  v = Vocabulary.build(tokens)
  assert v.tokens == ["<unk>", "a", "b", "c", "d"]
  assert Vocabulary.build(tokens, min_freq=2).tokens == ["<unk>", "a", "b"]
  assert Vocabulary.build(tokens, max_size=3).tokens == ["<unk>", "a", "b"]
  assert Vocabulary.build(["x", "<unk>", "x"]).tokens == ["x", "<unk>"]  # unk from the data


def test_encode_decode_unknown_and_round_trip(tmp_path):
  v = Vocabulary.build("a b b".split(), specials=["<pad>"])
  np.testing.assert_array_equal(v.encode(["b", "zzz", "<pad>"]), [2, 1, 0])
  assert v.decode([2, 3, 1]) == ["b", "a", "<unk>"]
  v.save(tmp_path / "v.json")
  assert Vocabulary.load(tmp_path / "v.json").tokens == v.tokens
  closed = Vocabulary.build(list("abc"), unk=None)
  with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
    closed.encode(list("az"))


def test_tokenizers():
  assert whitespace_eos(" a b \n c ") == ["a", "b", "<eos>", "c", "<eos>"]
  assert characters("a\nb") == ["a", "\n", "b"]
  with pytest.raises(ValueError, match="data.tokenizer"):
    get_tokenizer("bpe")
