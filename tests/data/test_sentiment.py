"""Tokenizing, vocabulary, loading through TFDS/grain, bucketing and pretrained vectors."""

import pathlib

import numpy as np
import pytest

from seqjax.data import sentiment as data_lib
from seqjax.data.vectors import load_vectors
from seqjax.data.vocab import Vocabulary


def test_words_tokenizer_splits_punctuation_and_keeps_apostrophes():
  assert data_lib.words("It isn't great!! 10/10") == ["It", "isn't", "great", "!", "!", "10",
                                                      "/", "10"]


def test_vocab_specials_min_freq_and_max_size():
  options = data_lib.TextOptions(lowercase=True)
  vocab = data_lib.build_vocab(["a b b", "B c c C"], options, min_freq=2)
  assert vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", "b", "c"]
  vocab = data_lib.build_vocab(["a b b", "B c c C"], options, max_size=5)
  assert vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", "b"]
  with pytest.raises(ValueError, match="data.min_freq"):
    data_lib.build_vocab(["a"], options, min_freq=0)


def test_encode_truncates_head_or_tail_around_bos_eos():
  vocab = Vocabulary(list(data_lib.SPECIALS) + list("abcdef"), unk="<unk>")
  head = data_lib.TextOptions(add_bos_eos=True, max_length=5)
  assert vocab.decode(head.encode(vocab, "a b c d e z")) == ["<s>", "a", "b", "c", "</s>"]
  tail = data_lib.TextOptions(add_bos_eos=True, max_length=5, truncate="tail")
  assert vocab.decode(tail.encode(vocab, "a b c d e z")) == ["<s>", "d", "e", "<unk>", "</s>"]
  plain = data_lib.TextOptions()
  assert vocab.decode(plain.encode(vocab, "f a")) == ["f", "a"]


@pytest.mark.parametrize("kwargs, message", [
    ({"tokenizer": "bpe"}, "data.tokenizer"), ({"truncate": "middle"}, "data.truncate"),
    ({"max_length": 2, "add_bos_eos": True}, "data.max_length"),
])
def test_text_options_errors(kwargs, message):
  with pytest.raises(ValueError, match=message):
    data_lib.TextOptions(**kwargs)


def test_empty_sentence_is_an_error():
  with pytest.raises(ValueError, match="empty sentence"):
    data_lib.TextOptions().tokenize("   ")


def _split(lengths, seed=0):
  rng = np.random.default_rng(seed)
  ids = [rng.integers(4, 50, n).astype(np.int32) for n in lengths]
  return data_lib.Split(ids=ids, labels=np.arange(len(lengths), dtype=np.int32) % 2)


def test_pad_batch_pads_rounds_and_fills():
  batch = data_lib.pad_batch([np.array([5, 6, 7]), np.array([8])], [1, 0], batch_size=4,
                             pad_multiple=4, min_length=1)
  np.testing.assert_array_equal(batch["tokens"], [[5, 6, 7, 0], [8, 0, 0, 0], [0] * 4, [0] * 4])
  np.testing.assert_array_equal(batch["lengths"], [3, 1, 1, 1])
  np.testing.assert_array_equal(batch["mask"], [[1, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0],
                                                [1, 0, 0, 0]])
  np.testing.assert_array_equal(batch["weights"], [1, 1, 0, 0])
  np.testing.assert_array_equal(batch["labels"], [1, 0, 0, 0])
  wide = data_lib.pad_batch([np.array([5])], [0], min_length=5)
  assert wide["tokens"].shape == (1, 5)


def test_load_dataset_through_tfds_and_grain(sst2_like):
  options = data_lib.TextOptions(add_bos_eos=True)
  data = data_lib.load_dataset("sst2", options, **sst2_like)
  assert {s: len(x) for s, x in data.splits.items()} == {"train": 600, "validation": 100,
                                                        "test": 50}
  assert data.splits["train"].labelled and not data.splits["test"].labelled
  assert data.vocab.tokens[:4] == list(data_lib.SPECIALS)
  first = data.splits["train"].ids[0]
  assert first[0] == data.vocab.ids["<s>"] and first[-1] == data.vocab.ids["</s>"]
  # The first training row of the file, in file order.
  raw = (pathlib.Path(sst2_like["manual_dir"]) / "train.tsv").read_text().split("\n")[1]
  assert data.vocab.decode(first[1:-1]) == raw.split("\t")[0].split()
  held = data_lib.load_dataset("sst2", options, validation_holdout=0.25, seed=1, **sst2_like)
  assert len(held.splits["train"]) == 450 and len(held.splits["validation"]) == 150


def test_load_dataset_errors(tmp_path, sst2_like):
  options = data_lib.TextOptions()
  with pytest.raises(ValueError, match="data.name must be one of"):
    data_lib.load_dataset("sst3", options)
  with pytest.raises(FileNotFoundError, match="is not a directory"):
    data_lib.load_dataset("sst2", options, manual_dir=str(tmp_path / "missing"))
  (tmp_path / "raw").mkdir()
  (tmp_path / "raw" / "train.tsv").write_text("sentence\tlabel\ngood \t1\n")
  with pytest.raises(FileNotFoundError, match=r"lacks \['dev.tsv', 'test.tsv'\]"):
    data_lib.load_dataset("sst2", options, manual_dir=str(tmp_path / "raw"),
                          data_dir=str(tmp_path / "tfds"))
  (tmp_path / "raw" / "train.tsv").write_text("sentence\tlabel\ngood \t1\nbad \t3\n")
  for name in ("dev.tsv", "test.tsv"):
    (tmp_path / "raw" / name).write_text("sentence\tlabel\ngood \t1\n")
  with pytest.raises(ValueError, match="train.tsv:3: unknown label '3'"):
    data_lib.load_dataset("sst2", options, manual_dir=str(tmp_path / "raw"),
                          data_dir=str(tmp_path / "tfds"))


def test_load_vectors_glove_and_word2vec(tmp_path):
  vocab = Vocabulary(list(data_lib.SPECIALS) + ["the", "film", "great"], unk="<unk>")
  (tmp_path / "glove.txt").write_text("the 1 2 3\nFilm 4 5 6\nzebra 7 8 9\n<pad> 9 9 9\n")
  table, found = load_vectors(str(tmp_path / "glove.txt"), vocab, lowercase=True, seed=0)
  assert table.shape == (7, 3) and table.dtype == np.float32 and found == 3  # the, film, <pad>
  np.testing.assert_array_equal(table[4], [1, 2, 3])
  np.testing.assert_array_equal(table[5], [4, 5, 6])
  np.testing.assert_array_equal(table[0], [0, 0, 0])  # padding stays zero
  assert 0 < np.abs(table[6]).max() < 1  # "great": random N(0, 0.1^2)
  exact, found = load_vectors(str(tmp_path / "glove.txt"), vocab, lowercase=False)
  assert found == 2 and not np.array_equal(exact[5], [4, 5, 6])
  (tmp_path / "w2v.txt").write_text("2 3\nthe 1 2 3\ngreat 0.5 0.5 0.5\n")
  table, found = load_vectors(str(tmp_path / "w2v.txt"), vocab)
  assert found == 2
  np.testing.assert_array_equal(table[6], [0.5, 0.5, 0.5])


@pytest.mark.parametrize("body, message", [
    ("the 1 2 3\nfilm 4 5\n", r"glove.txt:2: 2 values; expected 3"),
    ("the 1 x 3\n", r"glove.txt:1: values are not numbers"),
    ("", "no vectors"),
])
def test_load_vectors_errors(tmp_path, body, message):
  vocab = Vocabulary(list(data_lib.SPECIALS) + ["the", "film"], unk="<unk>")
  (tmp_path / "glove.txt").write_text(body)
  with pytest.raises(ValueError, match=message):
    load_vectors(str(tmp_path / "glove.txt"), vocab)
  with pytest.raises(FileNotFoundError, match="data.pretrained_vectors"):
    load_vectors(str(tmp_path / "nope.txt"), vocab)


def test_load_sst_phrases_and_imdb_through_tfds(tmp_path):
  from tests.data.test_reviews import _imdb_archive, _write_trees  # pylint: disable=g-import-not-at-top
  (tmp_path / "sst").mkdir()
  for name in ("train", "dev", "test"):
    _write_trees(tmp_path / "sst" / f"{name}.txt")
  options = data_lib.TextOptions(lowercase=True)
  data = data_lib.load_dataset("sst_phrases", options, manual_dir=str(tmp_path / "sst"),
                               data_dir=str(tmp_path / "tfds"))
  assert [len(data.splits[s]) for s in ("train", "validation", "test")] == [8, 2, 2]
  assert data.vocab.decode(data.splits["test"].ids[0]) == ["it", "rocks", "."]
  fine = data_lib.load_dataset("sst_fine", options, manual_dir=str(tmp_path / "sst"),
                               data_dir=str(tmp_path / "tfds"))
  assert fine.num_classes == 5 and fine.splits["train"].labels.tolist() == [3, 2, 0]
  (tmp_path / "imdb").mkdir()
  reviews = {f"{split}/{pol}/{i}_{7 if pol == 'pos' else 2}.txt": f"review {i} is {pol}"
             for split in ("train", "test") for pol in ("pos", "neg") for i in range(10)}
  _imdb_archive(tmp_path / "imdb" / "aclImdb_v1.tar.gz", reviews)
  imdb = data_lib.load_dataset("imdb", data_lib.TextOptions(tokenizer="words"),
                               manual_dir=str(tmp_path / "imdb"), data_dir=str(tmp_path / "tfds"),
                               validation_holdout=0.2)
  assert [len(imdb.splits[s]) for s in ("train", "validation", "test")] == [16, 4, 20]
  assert imdb.splits["test"].labels.tolist() == [0] * 10 + [1] * 10
  with pytest.raises(ValueError, match="imdb has no validation split"):
    data_lib.load_dataset("imdb", options, manual_dir=str(tmp_path / "imdb"),
                          data_dir=str(tmp_path / "tfds"))
  with pytest.raises(FileNotFoundError, match="lacks"):
    data_lib.load_dataset("imdb", options, manual_dir=str(tmp_path / "sst"),
                          data_dir=str(tmp_path / "tfds2"))
