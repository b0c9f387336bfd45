"""The sentiment corpus readers and TFDS builders, on generated files and the real data."""

import io
import tarfile

import pytest

from seqjax.data import reviews
from tests.conftest import shared_data


def test_parse_tree_lists_every_node_root_first():
  nodes = reviews.parse_tree("(3 (2 It) (4 (4 rocks) (2 .)))")
  assert nodes == [(3, ["It", "rocks", "."]), (2, ["It"]), (4, ["rocks", "."]), (4, ["rocks"]),
                   (2, ["."])]


def test_parse_tree_leaf_with_several_words():
  # SST writes "8 1\/2" as one leaf (train.txt line 4342).
  nodes = reviews.parse_tree(r"(2 (2 like) (2 8 1\/2))")
  assert nodes[0] == (2, ["like", "8", r"1\/2"])
  assert nodes[2] == (2, ["8", r"1\/2"])


@pytest.mark.parametrize("line, message", [
    ("(7 (2 a) (2 b))", "unknown label '7'"),
    ("(x (2 a))", "unknown label 'x'"),
    ("(2 (2 a) (2 b)", "unbalanced"),
    ("(2 (2 a)) (2 b)", "after the end"),
    ("(2 )", "empty sentence"),
])
def test_parse_tree_errors_name_the_place(line, message):
  with pytest.raises(ValueError, match=message) as e:
    reviews.parse_tree(line, "train.txt:5")
  assert "train.txt:5" in str(e.value)


def _write_trees(path):
  path.write_text("(3 (2 It) (4 (4 rocks) (2 .)))\n"  # positive root, phrases 3,4,4 (+ neutral)
                  "(2 (1 dull) (2 film))\n"  # neutral root, one negative phrase
                  "(0 (0 awful) (1 (2 so) (1 bad)))\n")


@pytest.mark.parametrize("mode, train, expected", [
    ("binary_phrases", True, [("It rocks .", 1), ("rocks .", 1), ("rocks", 1), ("dull", 0),
                              ("awful so bad", 0), ("awful", 0), ("so bad", 0), ("bad", 0)]),
    ("binary_phrases", False, [("It rocks .", 1), ("awful so bad", 0)]),
    ("binary_sentences", True, [("It rocks .", 1), ("awful so bad", 0)]),
    ("fine_sentences", True, [("It rocks .", 3), ("dull film", 2), ("awful so bad", 0)]),
    ("fine_phrases", True, [("It rocks .", 3), ("It", 2), ("rocks .", 4), ("rocks", 4),
                            (".", 2), ("dull film", 2), ("dull", 1), ("film", 2),
                            ("awful so bad", 0), ("awful", 0), ("so bad", 1), ("so", 2),
                            ("bad", 1)]),
    ("fine_phrases", False, [("It rocks .", 3), ("dull film", 2), ("awful so bad", 0)]),
])
def test_read_sst_modes(tmp_path, mode, train, expected):
  _write_trees(tmp_path / "t.txt")
  assert reviews.read_sst(str(tmp_path / "t.txt"), mode, train) == expected


def test_read_glue_tsv_strips_the_space_before_the_tab(tmp_path):
  (tmp_path / "train.tsv").write_text("sentence\tlabel\nhide new secretions \t0\ngreat ! \t1\n")
  assert reviews.read_glue_tsv(str(tmp_path / "train.tsv")) == [("hide new secretions", 0),
                                                                  ("great !", 1)]
  (tmp_path / "test.tsv").write_text("index\tsentence\n0\tuneasy mishmash .\n")
  assert reviews.read_glue_tsv(str(tmp_path / "test.tsv")) == [("uneasy mishmash .", -1)]


@pytest.mark.parametrize("body, message", [
    ("good \t2\n", "train.tsv:2: unknown label '2'"),
    ("good \tpositive\n", "unknown label 'positive'"),
    ("   \t1\n", "train.tsv:2: empty sentence"),
    ("good\n", "expected 2 tab-separated fields"),
])
def test_read_glue_tsv_errors(tmp_path, body, message):
  (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + body)
  with pytest.raises(ValueError, match=message):
    reviews.read_glue_tsv(str(tmp_path / "train.tsv"))


def _imdb_archive(path, texts):
  with tarfile.open(path, "w:gz") as archive:
    for name, text in texts.items():
      data = text.encode("utf-8")
      info = tarfile.TarInfo(f"aclImdb/{name}")
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))


def test_read_imdb_orders_by_label_and_id_and_removes_br(tmp_path):
  path = tmp_path / "aclImdb_v1.tar.gz"
  _imdb_archive(path, {"train/pos/10_9.txt": "Loved it.<br /><br />Great!",
                       "train/pos/2_8.txt": "Fine film.", "train/neg/0_1.txt": "Awful.",
                       "test/neg/1_2.txt": "Bad.", "test/pos/0_10.txt": "Superb.",
                       "train/urls_pos.txt": "http://x", "README": "readme"})
  splits = reviews.read_imdb(str(path))
  assert splits["train"] == [("Awful.", 0), ("Fine film.", 1), ("Loved it. Great!", 1)]
  assert splits["test"] == [("Bad.", 0), ("Superb.", 1)]


def test_read_imdb_rejects_an_archive_without_reviews(tmp_path):
  path = tmp_path / "other.tar.gz"
  _imdb_archive(path, {"train/README": "nothing"})
  with pytest.raises(ValueError, match=r"no aclImdb/train/\{pos,neg\}"):
    reviews.read_imdb(str(path))


def test_real_sst2_counts():
  root = shared_data("sst2")
  counts = {s: len(reviews.read_glue_tsv(str(root / f"{s}.tsv")))
            for s in ("train", "dev", "test")}
  assert counts == {"train": 67349, "dev": 872, "test": 1821}
  dev = reviews.read_glue_tsv(str(root / "dev.tsv"))
  assert dev[0] == ("it 's a charming and often affecting journey .", 1)
  assert sum(label for _, label in dev) == 444


def test_real_sst_protocols():
  root = shared_data("sst")
  sizes = {mode: [len(reviews.read_sst(str(root / f"{s}.txt"), mode, s == "train"))
                  for s in ("train", "dev", "test")]
           for mode in ("binary_phrases", "binary_sentences", "fine_sentences", "fine_phrases")}
  # Non-neutral nodes of the training trees: 318,582 labelled nodes - 219,788 neutral.
  assert sizes == {"binary_phrases": [98794, 872, 1821], "binary_sentences": [6920, 872, 1821],
                   "fine_sentences": [8544, 1101, 2210], "fine_phrases": [318582, 1101, 2210]}


def test_real_imdb_counts_and_balance():
  root = shared_data("imdb")
  splits = reviews.read_imdb(str(root / "aclImdb_v1_labeled.tar.gz"))
  for split in ("train", "test"):
    labels = [y for _, y in splits[split]]
    assert len(labels) == 25000 and sum(labels) == 12500
  assert splits["train"][12500][0].startswith("Bromwell High is a cartoon comedy")
  assert not any("<br />" in text for text, _ in splits["train"][:2000])
