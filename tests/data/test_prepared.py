"""Prepared datasets follow their raw files: a prepared copy records the size and SHA-256 of
the files it was made from and is prepared again when they change on disk; an empty or
non-UTF-8 raw file is an error naming it, and nothing is cached from it."""

import json
import os

import pytest

from seqjax.data import builders, lm, registry
from tests.fakes.data import write_ptb_like


def corpus(raw, tfds_dir):
  return lm.load_corpus("ptb_word", tokenizer="whitespace_eos", unk=None,
                        manual_dir=str(raw), data_dir=str(tfds_dir))


def test_an_edited_raw_file_is_prepared_again(tmp_path, capsys):
  raw, tfds_dir = tmp_path / "raw", tmp_path / "tfds"
  write_ptb_like(raw)
  first = corpus(raw, tfds_dir)
  builder = registry.get("ptb_word").builder
  prepared = builder(data_dir=str(tfds_dir), config="word").data_dir
  with open(os.path.join(prepared, builders.SOURCE), encoding="utf-8") as f:
    record = json.load(f)
  assert sorted(record["files"]) == ["ptb.test.txt", "ptb.train.txt", "ptb.valid.txt"]
  capsys.readouterr()
  assert corpus(raw, tfds_dir).splits["train"].tolist() == first.splits["train"].tolist()
  assert "preparing it again" not in capsys.readouterr().out  # unchanged: reused
  # Replace the training text (same size would also count: the hash differs).
  with open(raw / "ptb.train.txt", "a", encoding="utf-8") as f:
    f.write(" w1 w2 w3 zebra \n")
  edited = corpus(raw, tfds_dir)
  out = capsys.readouterr().out
  assert "was not made from the files in" in out and "ptb.train.txt changed (" in out
  assert len(edited.splits["train"]) == len(first.splits["train"]) + 5  # 4 words + <eos>
  assert "zebra" in edited.vocab.ids
  # A copy that records no fingerprint (an older seqjax) is prepared again too.
  os.remove(os.path.join(prepared, builders.SOURCE))
  corpus(raw, tfds_dir)
  assert "it records no source fingerprint" in capsys.readouterr().out


def test_an_empty_raw_file_is_named_and_nothing_is_cached(tmp_path):
  raw, tfds_dir = tmp_path / "raw", tmp_path / "tfds"
  write_ptb_like(raw)
  corpus(raw, tfds_dir)
  text = (raw / "ptb.valid.txt").read_text()
  (raw / "ptb.valid.txt").write_text("")
  with pytest.raises(ValueError, match=f"data.manual_dir: {raw}/ptb.valid.txt is empty"):
    corpus(raw, tfds_dir)
  (raw / "ptb.valid.txt").write_text(text)  # fixed: the earlier copy still fits
  assert len(corpus(raw, tfds_dir).splits["validation"]) > 0


def test_a_raw_file_that_is_not_utf8_is_named_with_line_and_byte(tmp_path):
  raw = tmp_path / "raw"
  write_ptb_like(raw)
  lines = (raw / "ptb.train.txt").read_bytes().split(b"\n")
  lines[6] = lines[6] + b" caf\xe9 "
  (raw / "ptb.train.txt").write_bytes(b"\n".join(lines))
  with pytest.raises(ValueError, match=f"{raw}/ptb.train.txt: not UTF-8 text \\(byte 0xe9 at "
                     r"offset \d+, line 7\)"):
    corpus(raw, tmp_path / "tfds")
  assert list(builders.iter_lines(raw / "ptb.valid.txt"))  # the other files read
  with pytest.raises(ValueError, match=f"{raw}/ptb.train.txt:7: not UTF-8 text"):
    list(builders.iter_lines(raw / "ptb.train.txt"))
