"""Multi30k builder, parallel reading errors, tokenizers, and padded pair batches."""

import gzip

import numpy as np
import pytest

from seqjax.data import translate as tr
from tests.conftest import shared_data


def write(path, lines):
  with gzip.open(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")


def test_read_parallel_checks_line_counts_and_empty_lines(tmp_path):
  write(tmp_path / "a.de.gz", ["ein hund", "zwei katzen"])
  write(tmp_path / "a.en.gz", ["a dog"])
  with pytest.raises(ValueError, match=r"a.de.gz has 2 lines but .*a.en.gz has 1; parallel"):
    tr.read_parallel(str(tmp_path / "a.de.gz"), str(tmp_path / "a.en.gz"))
  write(tmp_path / "b.de.gz", ["ein hund", "  "])
  write(tmp_path / "b.en.gz", ["a dog", "two cats"])
  with pytest.raises(ValueError, match=r"b.de.gz:2: empty sentence"):
    tr.read_parallel(str(tmp_path / "b.de.gz"), str(tmp_path / "b.en.gz"))
  assert tr.read_parallel(str(tmp_path / "b.en.gz"), str(tmp_path / "b.en.gz"))[0] == (
      "a dog", "a dog")


def test_word_tokens_and_detokenize_round_trip():
  text = "Two young, White males (one in a t-shirt) are outside the man's house."
  tokens = tr.word_tokens(text)
  assert tokens[:4] == ["two", "young", ",", "white"]
  assert tr.detokenize_words(tokens) == text.lower()
  assert tr.word_tokens("Ein Mann fährt.", lowercase=False) == ["Ein", "Mann", "fährt", "."]


def test_word_tokenizer_vocabulary_specials_and_unknowns():
  tok = tr.WordTokenizer.fit(["a dog runs .", "a cat runs .", "one bird"], min_freq=2)
  assert tok.vocab.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
  assert set(tok.vocab.tokens[4:]) == {"a", "runs", "."}
  ids = tok.encode("A dog runs.")
  assert list(ids) == [tok.vocab.ids["a"], tr.UNK_ID, tok.vocab.ids["runs"], tok.vocab.ids["."]]
  assert tok.decode(list(ids) + [tr.EOS_ID, 5, 6]) == "a <unk> runs."
  again = tr.tokenizer_from_json(tok.to_json())
  assert again.vocab.tokens == tok.vocab.tokens and again.lowercase


def test_sentencepiece_tokenizer_trains_round_trips_and_serializes():
  rng = np.random.default_rng(0)
  words = ["house", "houses", "horse", "horses", "man", "men", "dog", "dogs", "runs", "walks"]
  texts = [" ".join(rng.choice(words, 6)).capitalize() + "." for _ in range(300)]
  tok = tr.SentencePieceTokenizer.fit(texts, vocab_size=40)
  assert len(tok) == 40
  for text in texts[:20]:
    ids = tok.encode(text)
    assert ids.min() > tr.EOS_ID  # specials never come out of encode
    assert tok.decode(ids) == text  # lossless: cased, spacing kept
  again = tr.tokenizer_from_json(tok.to_json())
  assert list(again.encode(texts[0])) == list(tok.encode(texts[0]))
  with pytest.raises(ValueError, match="data.vocab_size=5000: sentencepiece training failed"):
    tr.SentencePieceTokenizer.fit(texts, vocab_size=5000)


def test_pad_pairs_shifts_targets_and_masks_filler():
  batch = tr.pad_pairs([np.array([5, 6, 3]), np.array([7, 3])], [np.array([8, 9]),
                                                                  np.array([10])],
                       [4, 0], batch_size=3, pad_multiple=4)
  np.testing.assert_array_equal(batch["src"], [[5, 6, 3, 0], [7, 3, 0, 0], [3, 0, 0, 0]])
  np.testing.assert_array_equal(batch["src_lengths"], [3, 2, 1])
  np.testing.assert_array_equal(batch["tgt_in"], [[2, 8, 9, 0], [2, 10, 0, 0], [2, 0, 0, 0]])
  np.testing.assert_array_equal(batch["tgt_out"], [[8, 9, 3, 0], [10, 3, 0, 0], [3, 0, 0, 0]])
  np.testing.assert_array_equal(batch["tgt_mask"], [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(batch["weights"], [1, 1, 0])
  np.testing.assert_array_equal(batch["index"], [4, 0, -1])


def test_builder_reads_a_local_directory_in_both_directions(multi30k_like):
  options = tr.TokenizerOptions(kind="word", min_freq=1)
  de_en = tr.load_parallel("multi30k", "de", "en", options, **multi30k_like)
  assert {s: len(x) for s, x in de_en.splits.items()} == {
      "train": 400, "validation": 40, "test_2016_flickr": 30, "test_2017_flickr": 30,
      "test_2017_mscoco": 30, "test_2018_flickr": 30}
  pair = de_en.splits["train"]
  assert pair.src_text[0].startswith("d") and pair.tgt_text[0].startswith("e")
  assert pair.src[0][-1] == tr.EOS_ID and tr.EOS_ID not in pair.tgt[0]
  en_de = tr.load_parallel("multi30k", "en", "de", options, **multi30k_like,
                           splits=["validation"])
  assert en_de.splits["validation"].src_text == de_en.splits["validation"].tgt_text
  assert "train" in en_de.splits  # the tokenizers are fit on train
  short = tr.load_parallel("multi30k", "de", "en", options, **multi30k_like, max_length=4)
  assert 0 < len(short.splits["train"]) < 400
  assert all(len(x) <= 4 for x in short.splits["train"].src)
  assert len(short.splits["validation"]) == 40  # evaluation splits are never filtered
  with pytest.raises(ValueError, match="data.source_lang and data.target_lang must differ"):
    tr.load_parallel("multi30k", "en", "en", options, **multi30k_like)
  with pytest.raises(ValueError, match="data.target_lang must be one of"):
    tr.load_parallel("multi30k", "de", "fr", options, **multi30k_like)


def test_builder_names_the_missing_local_file(tmp_path):
  write(tmp_path / "train.de.gz", ["ein hund"])
  with pytest.raises(FileNotFoundError, match=r"data.manual_dir=.* lacks \['train.en'"):
    tr.prepare("multi30k", manual_dir=str(tmp_path), data_dir=str(tmp_path / "tfds"))


def test_pair_batches_bucket_and_cover_every_example(multi30k_like):
  data = tr.load_parallel("multi30k", "de", "en", tr.TokenizerOptions(min_freq=1),
                          **multi30k_like, splits=["train", "validation"])
  train = tr.pair_batches(data.splits["train"], 32, shuffle=True, seed=1, bucket_chunk=4)
  assert len(train) == 12
  seen = np.concatenate([b["index"] for b in train.dataset(0)])
  assert len(set(seen.tolist())) == 12 * 32
  evaluation = tr.pair_batches(data.splits["validation"], 16, shuffle=False)
  rows = np.concatenate([b["index"] for b in evaluation.epoch_batches()])
  assert sorted(rows[rows >= 0].tolist()) == list(range(40))


@pytest.mark.slow  # run with `pytest -m slow`
def test_real_multi30k_splits_and_vocabularies(tmp_path):
  directory = shared_data("multi30k")
  data = tr.load_parallel("multi30k", "de", "en", tr.TokenizerOptions(min_freq=2),
                          manual_dir=str(directory), data_dir=str(tmp_path / "tfds"))
  assert {s: len(x) for s, x in data.splits.items()} == {
      "train": 29000, "validation": 1014, "test_2016_flickr": 1000, "test_2017_flickr": 1000,
      "test_2017_mscoco": 461, "test_2018_flickr": 1071}
  assert data.splits["train"].tgt_text[0] == "Two young, White males are outside near many bushes."
  # Vocabulary sizes as bentrevett/pytorch-seq2seq's spaCy tokens at min_freq 2 (7,853 / 5,893).
  assert 7500 < len(data.src_tokenizer) < 8200 and 5600 < len(data.tgt_tokenizer) < 6200
