import pathlib

import numpy as np
import pytest

from seqjax.data import builders
from seqjax.data import lm
from tests.conftest import shared_data


def test_stream_matches_hand_made_example():
  # 0..22 in 3 rows of 7 (the last 2 tokens dropped), windows of 2.
  s = lm.LMStream(np.arange(23), batch_size=3, bptt=2)
  np.testing.assert_array_equal(s.rows, [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13],
                                         [14, 15, 16, 17, 18, 19, 20]])
  assert len(s) == 3  # (7 - 1) // 2
  b1 = s.batch(1)
  np.testing.assert_array_equal(b1["inputs"], [[2, 3], [9, 10], [16, 17]])
  np.testing.assert_array_equal(b1["targets"], [[3, 4], [10, 11], [17, 18]])
  assert not b1["reset"] and s.batch(0)["reset"]
  # Row b of window k+1 continues row b of window k.
  np.testing.assert_array_equal(s.batch(0)["inputs"][:, -1] + 1, b1["inputs"][:, 0])


def test_padded_stream_scores_every_target_once():
  s = lm.LMStream(np.arange(23), batch_size=3, bptt=4, pad_last=True)
  assert len(s) == 2  # 6 targets per row: windows of 4 and 2
  last = s.batch(1)
  np.testing.assert_array_equal(last["mask"], [[1, 1, 0, 0]] * 3)
  np.testing.assert_array_equal(last["targets"][:, :2], [[5, 6], [12, 13], [19, 20]])
  total = sum(b["mask"].sum() for b in s.epoch_batches())
  assert total == 3 * 6
  strict = lm.LMStream(np.arange(23), batch_size=3, bptt=4)
  assert len(strict) == 1


def test_stream_position_round_trips_and_wraps_epochs():
  s = lm.LMStream(np.arange(50), batch_size=2, bptt=3)
  it = iter(s)
  seen = [next(it) for _ in range(len(s) + 2)]
  assert [int(b["epoch"]) for b in seen[-3:]] == [0, 1, 1] and seen[len(s)]["reset"]
  state = s.get_state()
  assert state == {"epoch": 1, "window": 2}
  after = next(it)
  t = lm.LMStream(np.arange(50), batch_size=2, bptt=3)
  t.set_state(state)
  np.testing.assert_array_equal(next(iter(t))["inputs"], after["inputs"])
  with pytest.raises(ValueError, match="window"):
    t.set_state({"epoch": 0, "window": 99})
  with pytest.raises(ValueError, match="bptt must be a positive int"):
    lm.LMStream(np.arange(50), batch_size=2, bptt=0)
  with pytest.raises(ValueError, match="too few"):
    lm.LMStream(np.arange(3), batch_size=4, bptt=2)


def test_builder_reads_local_dir_in_corpus_order(ptb_like):
  corpus = lm.load_corpus("ptb_word", tokenizer="whitespace_eos", unk="<unk>", **ptb_like)
  raw = (pathlib.Path(ptb_like["manual_dir"]) / "ptb.valid.txt").read_text().split("\n")[:-1]
  expected = [t for line in raw for t in line.split() + ["<eos>"]]
  assert corpus.vocab.decode(corpus.splits["validation"]) == expected
  assert len(corpus.vocab) == 32  # w0..w29, <eos>, <unk>


def test_missing_local_files_and_unknown_corpus(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"data.manual_dir=.* lacks \['input.txt'\]"):
    lm.prepare("tiny_shakespeare", data_dir=str(tmp_path / "d"), manual_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match="is not a directory"):
    lm.prepare("ptb_word", manual_dir=str(tmp_path / "nope"))
  with pytest.raises(ValueError, match="data.name"):
    lm.prepare("wikitext2")


def test_real_ptb_and_shakespeare_counts(tmp_path):
  ptb = lm.load_corpus("ptb_word", tokenizer="whitespace_eos", unk="<unk>",
                       manual_dir=str(shared_data("ptb")), data_dir=str(tmp_path))
  # Zaremba et al.'s reader: 929,589 / 73,760 / 82,430 tokens and a 10,000-word vocabulary.
  assert {k: len(v) for k, v in ptb.splits.items()} == {
      "train": 929589, "validation": 73760, "test": 82430}
  assert len(ptb.vocab) == 10000
  text = builders.read_text(shared_data("tinyshakespeare") / "input.txt")
  tiny = lm.load_corpus("tiny_shakespeare", tokenizer="characters",
                        manual_dir=str(shared_data("tinyshakespeare")), data_dir=str(tmp_path))
  assert {k: len(v) for k, v in tiny.splits.items()} == {
      "train": 1003854, "validation": 55770, "test": 55770}
  assert "".join(tiny.vocab.decode(tiny.splits["test"])) == text[-55770:]
  assert len(tiny.vocab) == 65
