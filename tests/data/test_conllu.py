"""The CoNLL-U reader, the EWT builder and tagging batches: generated treebanks, malformed
lines named by file and line, real UD English-EWT counts."""

import gzip

import numpy as np
import pytest

from seqjax.data import conllu, tagging
from seqjax.data.registry import prepare
from tests.conftest import shared_data
from tests.fakes.data import conllu_text

BLOCK = """# sent_id = a-1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
3.1\tknown\tknow\tVERB\tVBN\t_\t_\t_\t0:root\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = a-2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_words_skip_multiword_ranges_and_empty_nodes():
  first, second = conllu.parse_conllu(BLOCK.splitlines(keepends=True), source="x.conllu")
  assert first.sent_id == "a-1"
  assert first.words == ("I", "do", "n't", "know", ".")
  assert first.upos == ("PRON", "AUX", "PART", "VERB", "PUNCT")
  assert first.xpos == ("PRP", "VBP", "RB", "VB", ".")
  assert second.words == ("Yes",) and second.upos == ("INTJ",)  # no blank line at the end


@pytest.mark.parametrize("line, lineno, message", [
    ("4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_", 8, "expected 10 tab-separated fields; got 9"),
    ("6\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_", 8, "token ID '6'; expected 4"),
    ("4\tknow\tknow\tVRB\tVB\t_\t0\troot\t_\t_", 8, "unknown UPOS tag 'VRB'"),
    ("4\t\tknow\tVERB\tVB\t_\t0\troot\t_\t_", 8, "empty FORM"),
    ("4-x\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_", 8, "bad token ID '4-x'"),
])
def test_a_malformed_line_is_named_by_file_and_line(tmp_path, line, lineno, message):
  lines = BLOCK.splitlines()
  lines[lineno - 1] = line
  path = tmp_path / "bad.conllu.gz"
  with gzip.open(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  with pytest.raises(ValueError, match=f"bad.conllu.gz:{lineno}: {message}"):
    conllu.read_conllu(str(path))


def test_empty_and_missing_files(tmp_path):
  (tmp_path / "empty.conllu").write_text("# only a comment\n\n")
  with pytest.raises(ValueError, match="no sentences"):
    conllu.read_conllu(str(tmp_path / "empty.conllu"))
  with pytest.raises(FileNotFoundError, match="nope.conllu"):
    conllu.read_conllu(str(tmp_path / "nope.conllu"))


def test_dataset_vocabularies_oov_flags_and_batches(conllu_like):
  data = tagging.load_dataset("ud_english_ewt", **conllu_like)
  assert set(data.tag_names) == {"ADJ", "AUX", "DET", "NOUN", "PART", "PUNCT", "VERB"}
  assert data.vocab.decode([0, 1]) == ["<pad>", "<unk>"]
  train, dev = data.splits["train"], data.splits["validation"]
  assert not any(u.any() for u in train.unknown)  # every training word is known
  dev_words = [w for s in dev.words for w in s]
  dev_oov = np.concatenate(dev.unknown).astype(bool)
  assert dev_oov.any()
  assert all(w.startswith(("nu",)) for w, u in zip(dev_words, dev_oov) if u)
  batches = tagging.tag_batches(dev, 16, shuffle=False, pad_multiple=8)
  total_words = 0
  for batch in batches.epoch_batches():
    b, t = batch["tokens"].shape
    assert t % 8 == 0 and batch["chars"].shape == (b, t, tagging.char_width(dev, range(len(dev))))
    mask = batch["mask"].astype(bool)
    np.testing.assert_array_equal(mask.sum(1), batch["lengths"] * batch["weights"])
    assert (batch["tokens"][~mask] == 0).all() and (batch["char_lengths"][~mask] == 0).all()
    assert (batch["char_lengths"][mask] > 0).all()
    total_words += int(mask.sum())
  assert total_words == dev.num_words  # every word exactly once, no filler or padding counted
  # A word's characters decode back to it.
  batch = next(batches.epoch_batches())
  row = int(np.argmax(batch["weights"]))
  word = "".join(data.char_vocab.decode(batch["chars"][row, 0, :batch["char_lengths"][row, 0]]))
  assert word in ("the", "a")


def test_process_shards_assemble_into_the_global_batch(conllu_like):
  class Shard:
    def __init__(self, i, n):
      self.shard_index, self.shard_count = i, n

  split = tagging.load_dataset("ud_english_ewt", **conllu_like).splits["train"]
  whole = next(iter(tagging.tag_batches(split, 8, shuffle=True, seed=3)))
  parts = [next(iter(tagging.tag_batches(split, 8, shuffle=True, seed=3, shard=Shard(i, 2))))
           for i in range(2)]
  for key in whole:
    np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]) if key != "epoch"
                                  else parts[0][key], whole[key])


def test_an_unknown_tag_outside_train_is_an_error(tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  (raw / "en_ewt-ud-train.conllu").write_text(conllu_text([[("a", "DET"), ("x", "NOUN")]]))
  (raw / "en_ewt-ud-dev.conllu").write_text(conllu_text([[("y", "VERB")]]))
  (raw / "en_ewt-ud-test.conllu").write_text(conllu_text([[("x", "NOUN")]]))
  with pytest.raises(ValueError, match="tag 'VERB' is not in the training split's tag set"):
    tagging.load_dataset("ud_english_ewt", manual_dir=str(raw), data_dir=str(tmp_path / "t"))


def test_missing_files_name_the_directory(tmp_path):
  with pytest.raises(FileNotFoundError, match="lacks"):
    prepare("ud_english_ewt", manual_dir=str(tmp_path), data_dir=str(tmp_path / "t"))


@pytest.mark.slow  # run with `pytest -m slow`
def test_real_ud_english_ewt_counts(tmp_path):
  root = shared_data("ud_english_ewt")
  data = tagging.load_dataset("ud_english_ewt", manual_dir=str(root), data_dir=str(tmp_path))
  counts = {s: (len(x), x.num_words) for s, x in data.splits.items()}
  # The README of ../shared/data/ud_english_ewt: sentences and words per split.
  assert counts == {"train": (12544, 204577), "validation": (2001, 25147),
                    "test": (2077, 25094)}
  assert data.tag_names == sorted(conllu.UPOS)
