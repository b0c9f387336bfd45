"""TFDS builders for the sentiment corpora, prepared as ArrayRecord (no TensorFlow).

Every example is ``{"index": int64, "text": str, "label": int64}`` with ``label = -1`` where a
split has no labels (GLUE hides SST-2's test labels). Each builder reads a local directory when
given (``builder.local_dir``, set by ``seqjax.data.sentiment.prepare``; or TFDS's manual
directory when it holds the files), and otherwise downloads from the canonical source:

- ``seqjax_sst2``: GLUE SST-2 (``train.tsv`` 67,349 phrases, ``dev.tsv`` 872 sentences as
  ``validation``, ``test.tsv`` 1,821 unlabelled). GLUE ends every sentence with a space before
  the tab; it is stripped.
- ``seqjax_sst/{binary_phrases,binary_sentences,fine_sentences,fine_phrases}``: the Stanford
  Sentiment Treebank's labelled PTB trees (``train.txt``/``dev.txt``/``test.txt``, labels 0..4 on every
  node). ``binary_phrases`` trains on every labelled non-neutral phrase of the training trees
  (the root and every internal node and leaf; label <= 1 negative, >= 3 positive, 2 dropped;
  duplicates kept) and evaluates on the non-neutral dev/test *sentences* (872 / 1,821), as Kim
  (2014) and Tai et al. (2015) do. ``binary_sentences`` uses only the roots (6,920 / 872 / 1,821),
  ``fine_sentences`` the 5-class roots (8,544 / 1,101 / 2,210), ``fine_phrases`` every labelled
  phrase of the training trees with its 5-class label and the dev/test roots (SST-1 as Kim).
- ``seqjax_imdb``: the Large Movie Review Dataset (Maas et al. 2011), 25,000 train and 25,000
  test reviews from ``aclImdb_v1*.tar.gz`` in the original ``aclImdb/{train,test}/{pos,neg}``
  layout; ``<br />`` becomes a space. There is no validation split: experiments hold one out of
  train (``seqjax.data.sentiment``).

Malformed input (a label outside the task's classes, an empty sentence, an unbalanced tree)
raises ``ValueError`` naming the file and line.
"""

from __future__ import annotations

import os
import re
import tarfile
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import registry
from seqjax.data.builders import decode_utf8, local_paths, read_text

SST2_URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
SST_URL = "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"
IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"

_FEATURES = dict(index=tfds.features.Scalar(np.int64), text=tfds.features.Text(),
                 label=tfds.features.Scalar(np.int64))
UNLABELLED = -1


def _info(builder, homepage: str, description: str):
  return tfds.core.DatasetInfo(builder=builder, description=description,
                               features=tfds.features.FeaturesDict(dict(_FEATURES)),
                               disable_shuffling=True, homepage=homepage)


# --------------------------------------------------------------------------------------- SST-2


def read_glue_tsv(path: str) -> list[tuple[str, int]]:
  """``(sentence, label)`` rows of a GLUE SST-2 ``train.tsv``/``dev.tsv`` (label -1 for the
  unlabelled ``test.tsv``, whose columns are ``index, sentence``)."""
  lines = read_text(path).split("\n")
  if lines and lines[-1] == "":
    lines.pop()
  if not lines:
    raise ValueError(f"{path}: empty file (expected a header line)")
  header = lines[0].split("\t")
  rows = []
  for n, line in enumerate(lines[1:], start=2):
    fields = line.split("\t")
    if len(fields) != 2:
      raise ValueError(f"{path}:{n}: expected 2 tab-separated fields; got {len(fields)}")
    if header == ["index", "sentence"]:
      sentence, label = fields[1], UNLABELLED
    elif header == ["sentence", "label"]:
      sentence, label_text = fields
      if label_text.strip() not in ("0", "1"):
        raise ValueError(f"{path}:{n}: unknown label {label_text!r} (SST-2 labels are 0 and 1)")
      label = int(label_text)
    else:
      raise ValueError(f"{path}: unexpected header {header} (want sentence/label or "
                       "index/sentence)")
    sentence = sentence.strip()  # GLUE writes "... units \t0"
    if not sentence:
      raise ValueError(f"{path}:{n}: empty sentence")
    rows.append((sentence, label))
  return rows


class SeqjaxSst2(tfds.core.GeneratorBasedBuilder):
  """GLUE SST-2: binary sentiment of SST phrases (train) and sentences (dev, test)."""

  VERSION = tfds.core.Version("1.0.0")
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Optional. A directory holding GLUE's SST-2 train.tsv, "
                                  "dev.tsv and test.tsv, e.g. ../shared/data/sst2.")
  FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}

  def _info(self):
    return _info(self, "https://gluebenchmark.com/tasks", "GLUE SST-2 (Socher et al. 2013)")

  def _split_generators(self, dl_manager):
    paths = local_paths(self, dl_manager, self.FILES)
    if paths is None:
      root = dl_manager.download_and_extract(SST2_URL)
      paths = {s: os.path.join(root, "SST-2", n) for s, n in self.FILES.items()}
    return {s: self._generate_examples(os.fspath(p)) for s, p in paths.items()}

  def _generate_examples(self, path: str) -> Iterator[tuple[int, dict]]:
    for i, (text, label) in enumerate(read_glue_tsv(path)):
      yield i, {"index": i, "text": text, "label": label}


# ---------------------------------------------------------------------------------------- SST

_TREE_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def parse_tree(line: str, where: str = "tree") -> list[tuple[int, list[str]]]:
  """Every node of one SST PTB tree as ``(label, leaf words)``, the root first.

  ``(3 (2 It) (4 (4 rocks) (2 .)))`` gives ``[(3, [It, rocks, .]), (2, [It]), (4, [rocks, .]),
  (4, [rocks]), (2, [.])]``.
  """
  tokens = _TREE_TOKEN.findall(line)
  nodes: list[tuple[int, list[str]]] = []
  pos = 0

  def node() -> list[str]:
    nonlocal pos
    if pos >= len(tokens) or tokens[pos] != "(":
      raise ValueError(f"{where}: expected '(' at token {pos}")
    pos += 1
    if pos >= len(tokens) or not tokens[pos].isdigit() or int(tokens[pos]) > 4:
      label = tokens[pos] if pos < len(tokens) else "end of line"
      raise ValueError(f"{where}: unknown label {label!r} (SST labels are 0..4)")
    label = int(tokens[pos])
    pos += 1
    slot = len(nodes)
    nodes.append((label, []))
    words: list[str] = []
    while pos < len(tokens) and tokens[pos] not in "()":  # a leaf may hold several words
      words.append(tokens[pos])
      pos += 1
    while pos < len(tokens) and tokens[pos] == "(":
      words.extend(node())
    if pos >= len(tokens) or tokens[pos] != ")":
      raise ValueError(f"{where}: unbalanced parentheses")
    pos += 1
    if not words:
      raise ValueError(f"{where}: empty sentence (a node without words)")
    nodes[slot] = (label, words)
    return words

  node()
  if pos != len(tokens):
    raise ValueError(f"{where}: text after the end of the tree")
  return nodes


def binary_label(label: int) -> int | None:
  """SST-2 from SST-5: 0, 1 -> 0 (negative); 3, 4 -> 1 (positive); 2 (neutral) -> None."""
  return None if label == 2 else int(label >= 3)


def read_sst(path: str, mode: str, train: bool) -> list[tuple[str, int]]:
  """``(text, label)`` examples of one SST tree file for config ``mode`` (see the module)."""
  out = []
  for n, line in enumerate(read_text(path).splitlines(), start=1):
    if not line.strip():
      continue
    nodes = parse_tree(line, f"{path}:{n}")
    if mode.endswith("_sentences") or not train:
      nodes = nodes[:1]
    for label, words in nodes:
      if not mode.startswith("fine"):
        label = binary_label(label)
        if label is None:
          continue
      out.append((" ".join(words), label))
  return out


class SeqjaxSst(tfds.core.GeneratorBasedBuilder):
  """The Stanford Sentiment Treebank from its labelled trees (see the module docstring)."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name="binary_phrases",
                              description="train on all non-neutral phrases, test on sentences"),
      tfds.core.BuilderConfig(name="binary_sentences", description="non-neutral sentences"),
      tfds.core.BuilderConfig(name="fine_sentences", description="5-class sentences"),
      tfds.core.BuilderConfig(name="fine_phrases",
                              description="5-class: train on all phrases, test on sentences"),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Optional. A directory holding SST's trees train.txt, dev.txt "
                                  "and test.txt, e.g. ../shared/data/sst.")
  FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}

  def _info(self):
    return _info(self, "https://nlp.stanford.edu/sentiment/",
                 "Stanford Sentiment Treebank (Socher et al. 2013)")

  def _split_generators(self, dl_manager):
    paths = local_paths(self, dl_manager, self.FILES)
    if paths is None:
      root = dl_manager.download_and_extract(SST_URL)
      paths = {s: os.path.join(root, "trees", n) for s, n in self.FILES.items()}
    return {s: self._generate_examples(os.fspath(p), s == "train") for s, p in paths.items()}

  def _generate_examples(self, path: str, train: bool) -> Iterator[tuple[int, dict]]:
    for i, (text, label) in enumerate(read_sst(path, self.builder_config.name, train)):
      yield i, {"index": i, "text": text, "label": label}


# --------------------------------------------------------------------------------------- IMDB

_IMDB_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def read_imdb(path: str) -> dict[str, list[tuple[str, int]]]:
  """``{"train": [...], "test": [...]}`` of ``(review, label)`` from an aclImdb ``.tar.gz``,
  each split ordered neg then pos by review id (the archive's own order is not relied on)."""
  found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
  with tarfile.open(path, "r:*") as archive:
    for member in archive:
      match = _IMDB_MEMBER.search(member.name)
      if not match or not member.isfile():
        continue
      split, polarity, review_id = match.group(1), match.group(2), int(match.group(3))
      text = decode_utf8(archive.extractfile(member).read(), f"{path}: {member.name}")
      text = " ".join(text.replace("<br />", " ").split())
      if not text:
        raise ValueError(f"{path}: {member.name} is an empty review")
      found[split].append((int(polarity == "pos"), review_id, text))
  for split, rows in found.items():
    if not rows:
      raise ValueError(f"{path}: no aclImdb/{split}/{{pos,neg}}/*.txt members (is it the "
                       "aclImdb archive?)")
  return {split: [(text, label) for label, _, text in sorted(rows)]
          for split, rows in found.items()}


class SeqjaxImdb(tfds.core.GeneratorBasedBuilder):
  """IMDB Large Movie Review Dataset v1.0, the labelled 25k/25k reviews."""

  VERSION = tfds.core.Version("1.0.0")
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Optional. A directory holding aclImdb_v1.tar.gz (or "
                                  "aclImdb_v1_labeled.tar.gz), e.g. ../shared/data/imdb.")
  ARCHIVES = ("aclImdb_v1_labeled.tar.gz", "aclImdb_v1.tar.gz")

  def _info(self):
    return _info(self, "https://ai.stanford.edu/~amaas/data/sentiment/",
                 "Large Movie Review Dataset (Maas et al. 2011)")

  def _archive(self, dl_manager) -> str | None:
    given = getattr(self, "local_dir", None)
    manual = os.fspath(dl_manager._manual_dir or "")  # pylint: disable=protected-access
    for directory in ([given] if given else [manual] if manual else []):
      for name in self.ARCHIVES:
        if os.path.exists(os.path.join(directory, name)):
          return os.path.join(directory, name)
      if given:
        raise FileNotFoundError(f"data.manual_dir={given!r} lacks {list(self.ARCHIVES)}")
    return None

  def _split_generators(self, dl_manager):
    path = self._archive(dl_manager) or os.fspath(dl_manager.download(IMDB_URL))
    splits = read_imdb(path)
    return {s: self._generate_examples(rows) for s, rows in splits.items()}

  def _generate_examples(self, rows) -> Iterator[tuple[int, dict]]:
    for i, (text, label) in enumerate(rows):
      yield i, {"index": i, "text": text, "label": label}


for _spec in (
    registry.DatasetSpec("sst2", registry.CLASSIFICATION, SeqjaxSst2, None, SeqjaxSst2.FILES, 2,
                         "SST-2 (GLUE): binary sentences, dev as validation"),
    registry.DatasetSpec("sst_phrases", registry.CLASSIFICATION, SeqjaxSst, "binary_phrases",
                         SeqjaxSst.FILES, 2, "SST: every labelled phrase of the training trees"),
    registry.DatasetSpec("sst_sentences", registry.CLASSIFICATION, SeqjaxSst,
                         "binary_sentences", SeqjaxSst.FILES, 2, "SST: binary root sentences"),
    registry.DatasetSpec("sst_fine", registry.CLASSIFICATION, SeqjaxSst, "fine_sentences",
                         SeqjaxSst.FILES, 5, "SST-5: five-class root sentences"),
    registry.DatasetSpec("sst_fine_phrases", registry.CLASSIFICATION, SeqjaxSst, "fine_phrases",
                         SeqjaxSst.FILES, 5,
                         "SST-1 as Kim (2014): every labelled phrase of the training trees, "
                         "five classes; sentences for validation and test"),
    registry.DatasetSpec("imdb", registry.CLASSIFICATION, SeqjaxImdb, None, None, 2,
                         "IMDB movie reviews (Maas et al. 2011)")):
  registry.register(_spec)
LABEL_NAMES = {2: ["negative", "positive"],
               5: ["very negative", "negative", "neutral", "positive", "very positive"]}
