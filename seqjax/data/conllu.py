"""CoNLL-U (Universal Dependencies) reading, and the TFDS builder of UD English-EWT.

A CoNLL-U file is blocks of lines separated by a blank line, one block per sentence: comment
lines (``# sent_id = ...``, ``# text = ...``) then one line per token with 10 tab-separated
fields ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC``. ``ID`` is a word index
``1, 2, ...``, a range ``3-4`` (a multiword token such as *don't* = *do* + *n't*, whose words
follow on their own lines) or a decimal ``5.1`` (an empty node of the enhanced graph). Taggers
tag the *words*: ranges and empty nodes are skipped, as the UD evaluation script does.

``read_conllu`` raises ``ValueError`` naming ``file:line`` for a malformed line: a wrong
number of fields, an ID that is not the next word index, an empty form, an unknown UPOS tag.

``seqjax_ud_english_ewt``: UD English-EWT (Silveira et al. 2014) ``en_ewt-ud-{train,dev,test}
.conllu`` (``.gz`` copies accepted) from a local directory, or downloaded from the UD GitHub
release tag. Every example is ``{"index", "sent_id", "words", "upos", "xpos"}`` in file order.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Iterator

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import builders, registry
from seqjax.data.builders import local_paths

# The 17 universal POS tags (https://universaldependencies.org/u/pos/).
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
EWT_RELEASE = "r2.16"
EWT_URL = ("https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/"
           f"{EWT_RELEASE}/en_ewt-ud-{{split}}.conllu")
EWT_FILES = {"train": "en_ewt-ud-train.conllu", "validation": "en_ewt-ud-dev.conllu",
             "test": "en_ewt-ud-test.conllu"}


@dataclasses.dataclass(frozen=True)
class Sentence:
  """One sentence's words (multiword-token ranges and empty nodes left out) and their tags."""
  sent_id: str
  words: tuple[str, ...]
  upos: tuple[str, ...]
  xpos: tuple[str, ...]

  def __len__(self) -> int:
    return len(self.words)


def parse_conllu(lines: Iterable[str], source: str = "<conllu>") -> list[Sentence]:
  """The sentences of CoNLL-U ``lines`` (``source`` names the file in errors)."""
  sentences: list[Sentence] = []
  words: list[tuple[str, str, str]] = []
  sent_id, start = "", 0

  def finish(n: int) -> None:
    nonlocal words, sent_id
    if words:
      ident = sent_id or f"{source}:{start}"
      forms, upos, xpos = zip(*words)
      sentences.append(Sentence(ident, forms, upos, xpos))
    elif sent_id:
      raise ValueError(f"{source}:{n}: sentence {sent_id!r} has no words")
    words, sent_id = [], ""

  n = 0
  for n, raw in enumerate(lines, start=1):
    line = raw.rstrip("\r\n")
    if not line.strip():
      finish(n)
      continue
    if not words and not sent_id:
      start = n
    if line.startswith("#"):
      if line.startswith("# sent_id"):
        sent_id = line.split("=", 1)[-1].strip()
      continue
    fields = line.split("\t")
    if len(fields) != 10:
      raise ValueError(f"{source}:{n}: expected 10 tab-separated fields; got {len(fields)}")
    ident, form, _, upos, xpos = fields[:5]
    if "-" in ident or "." in ident:
      lo = ident.replace(".", "-").split("-")
      if len(lo) != 2 or not all(p.isdigit() for p in lo):
        raise ValueError(f"{source}:{n}: bad token ID {ident!r}")
      continue  # a multiword token's range, or an empty node
    if not ident.isdigit() or int(ident) != len(words) + 1:
      raise ValueError(f"{source}:{n}: token ID {ident!r}; expected {len(words) + 1}")
    if not form:
      raise ValueError(f"{source}:{n}: empty FORM")
    if upos not in UPOS:
      raise ValueError(f"{source}:{n}: unknown UPOS tag {upos!r} (the 17 universal tags are "
                       f"{', '.join(UPOS)})")
    words.append((form, upos, xpos))
  finish(n + 1)
  return sentences


def read_conllu(path: str) -> list[Sentence]:
  """The sentences of a CoNLL-U file (``.gz`` read directly)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path!r} is not a file")
  sentences = parse_conllu(builders.iter_lines(path), source=path)
  if not sentences:
    raise ValueError(f"{path}: no sentences")
  return sentences


class SeqjaxUdEnglishEwt(tfds.core.GeneratorBasedBuilder):
  """Universal Dependencies English-EWT: words with UPOS and XPOS tags."""

  VERSION = tfds.core.Version("2.16.0")
  RELEASE_NOTES = {"2.16.0": f"UD {EWT_RELEASE}."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Optional. A directory holding en_ewt-ud-{train,dev,test}"
                                  ".conllu (.gz accepted), e.g. ../shared/data/ud_english_ewt.")
  FILES = EWT_FILES

  def _info(self):
    text_seq = tfds.features.Sequence(tfds.features.Text())
    features = dict(index=tfds.features.Scalar(np.int64), sent_id=tfds.features.Text(),
                    words=text_seq, upos=text_seq, xpos=text_seq)
    return tfds.core.DatasetInfo(
        builder=self, description="UD English Web Treebank (Silveira et al. 2014)",
        features=tfds.features.FeaturesDict(features), disable_shuffling=True,
        homepage="https://universaldependencies.org/treebanks/en_ewt/")

  def _split_generators(self, dl_manager):
    paths = local_paths(self, dl_manager, self.FILES)
    if paths is None:
      urls = {s: EWT_URL.format(split=n.split("-")[-1].split(".")[0])
              for s, n in self.FILES.items()}
      paths = {s: os.fspath(p) for s, p in dl_manager.download(urls).items()}
    return {split: self._generate_examples(path) for split, path in paths.items()}

  def _generate_examples(self, path: str) -> Iterator[tuple[int, dict]]:
    for i, s in enumerate(read_conllu(path)):
      yield i, {"index": i, "sent_id": s.sent_id, "words": list(s.words), "upos": list(s.upos),
                "xpos": list(s.xpos)}


# name -> (builder class, builder config, files a local directory needs)
registry.register(registry.DatasetSpec("ud_english_ewt", registry.TAGGING, SeqjaxUdEnglishEwt,
                                      None, EWT_FILES, description="UD English-EWT (CoNLL-U)"))
