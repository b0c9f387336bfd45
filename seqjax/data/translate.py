r"""Parallel text for translation: the Multi30k builder, tokenizers, and padded pair batches.

``seqjax_multi30k``: Multi30k task 1 (Elliott et al. 2016), English–German image descriptions.
Every example is ``{"index": int64, "en": str, "de": str}``; splits ``train`` (29,000),
``validation`` (``val``, 1,014), ``test_2016_flickr`` (1,000), ``test_2017_flickr`` (1,000),
``test_2017_mscoco`` (461), ``test_2018_flickr`` (1,071). The builder reads the raw
``{split}.{en,de}[.gz]`` files of a local directory when given (``../shared/data/multi30k``)
and otherwise downloads them from the ``multi30k/dataset`` repository. Both languages are
stored, so the direction (De→En or En→De) is chosen when loading.

Tokenizers (``TOKENIZERS``), one per language, fit on the training split:

- ``word``: lower-cased (optional) runs of word characters and single punctuation marks,
  ``min_freq`` 2 by default; ``detokenize`` glues punctuation back for BLEU on raw text.
- ``sentencepiece``: a unigram (or BPE) SentencePiece model trained on the training side;
  its serialized model is stored in the checkpoint's metadata (``to_json``).

Ids: ``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3 in both. A source sentence is its tokens
and ``<eos>``; a target sentence is fed as ``<bos> y`` and predicted as ``y <eos>``.

Malformed input raises ``ValueError`` naming the file: source and target files with different
line counts, or an empty line (``file:line``).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import re
from typing import Any, Iterator, Sequence

import grain
import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import registry
from seqjax.data.batching import BucketedBatches, round_up
from seqjax.data.builders import local_paths, read_text
from seqjax.data.vocab import Vocabulary

MULTI30K_URL = ("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
                "{name}.{lang}.gz")
MULTI30K_SPLITS = {"train": "train", "validation": "val", "test_2016_flickr": "test_2016_flickr",
                   "test_2017_flickr": "test_2017_flickr", "test_2017_mscoco": "test_2017_mscoco",
                   "test_2018_flickr": "test_2018_flickr"}
LANGUAGES = ("en", "de")

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


# ------------------------------------------------------------------------------------ reading


def read_lines(path: str) -> list[str]:
  """The lines of a UTF-8 text file (``.gz`` accepted), without their newlines."""
  lines = read_text(path).split("\n")
  if lines and lines[-1] == "":
    lines.pop()
  return [line.rstrip("\r") for line in lines]


def read_parallel(source_path: str, target_path: str) -> list[tuple[str, str]]:
  """``(source, target)`` pairs from two line-aligned files.

  Raises ``ValueError`` when the line counts differ or a line is empty (naming ``file:line``).
  """
  source, target = read_lines(source_path), read_lines(target_path)
  if len(source) != len(target):
    raise ValueError(f"{source_path} has {len(source):,} lines but {target_path} has "
                     f"{len(target):,}; parallel files must be line-aligned")
  for path, lines in ((source_path, source), (target_path, target)):
    for n, line in enumerate(lines, start=1):
      if not line.strip():
        raise ValueError(f"{path}:{n}: empty sentence")
  return [(s.strip(), t.strip()) for s, t in zip(source, target)]


def multi30k_files() -> dict[str, str]:
  """Local file names by ``{split}.{lang}`` key (a ``.gz`` copy also counts)."""
  return {f"{split}.{lang}": f"{name}.{lang}" for split, name in MULTI30K_SPLITS.items()
          for lang in LANGUAGES}


class SeqjaxMulti30k(tfds.core.GeneratorBasedBuilder):
  """Multi30k task 1, English–German (both sides of every pair)."""

  VERSION = tfds.core.Version("1.0.0")
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Optional. A directory holding the raw Multi30k task 1 files "
                                  "{train,val,test_2016_flickr,...}.{en,de}.gz, e.g. "
                                  "../shared/data/multi30k.")

  def _info(self):
    features = tfds.features.FeaturesDict(dict(index=tfds.features.Scalar(np.int64),
                                               en=tfds.features.Text(), de=tfds.features.Text()))
    return tfds.core.DatasetInfo(builder=self, description="Multi30k task 1 (Elliott et al. "
                                 "2016)", features=features, disable_shuffling=True,
                                 homepage="https://github.com/multi30k/dataset")

  def _split_generators(self, dl_manager):
    paths = local_paths(self, dl_manager, multi30k_files())
    if paths is None:
      urls = {key: MULTI30K_URL.format(name=name.split(".")[0], lang=name.split(".")[1])
              for key, name in multi30k_files().items()}
      paths = dl_manager.download_and_extract(urls)
    return {split: self._generate_examples(os.fspath(paths[f"{split}.en"]),
                                           os.fspath(paths[f"{split}.de"]))
            for split in MULTI30K_SPLITS}

  def _generate_examples(self, en_path: str, de_path: str) -> Iterator[tuple[int, dict]]:
    for i, (en, de) in enumerate(read_parallel(en_path, de_path)):
      yield i, {"index": i, "en": en, "de": de}


registry.register(registry.DatasetSpec("multi30k", registry.TRANSLATION, SeqjaxMulti30k, None,
                                      multi30k_files(), description="Multi30k (WMT16) en-de"))


def prepare(name: str, *, data_dir: str | None = None, manual_dir: str | None = None):
  return registry.prepare(name, kind=registry.TRANSLATION, data_dir=data_dir,
                          manual_dir=manual_dir)


def read_split(builder, split: str) -> dict[str, list[str]]:
  """``{lang: sentences}`` of a split, in file order, read through grain."""
  examples = list(grain.MapDataset.source(builder.as_data_source(split=split)))
  examples.sort(key=lambda e: int(e["index"]))
  return {lang: [e[lang].decode("utf-8") for e in examples] for lang in LANGUAGES}


# --------------------------------------------------------------------------------- tokenizers

_WORDS = re.compile(r"\w+|[^\w\s]")


def word_tokens(text: str, lowercase: bool = True) -> list[str]:
  """``"Two young, White males."`` -> ``["two", "young", ",", "white", "males", "."]``."""
  return _WORDS.findall(text.lower() if lowercase else text)


_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")
_INNER = re.compile(r"(?<=\w) ([-'’/&]) (?=\w)")


def detokenize_words(tokens: Sequence[str]) -> str:
  """Joins word tokens into text: no space before ``. , ! ? ; : % )``, none after ``(``, and
  ``-``, ``'``, ``/``, ``&`` between two words glued to both (``t - shirt`` -> ``t-shirt``,
  ``man ' s`` -> ``man's``)."""
  text = " ".join(tokens)
  text = _NO_SPACE_BEFORE.sub(r"\1", text)
  text = _NO_SPACE_AFTER.sub(r"\1", text)
  return _INNER.sub(r"\1", text)


class WordTokenizer:
  """Word-level tokenizer with a vocabulary fit on training text."""
  kind = "word"

  def __init__(self, vocab: Vocabulary, lowercase: bool = True):
    if vocab.tokens[:len(SPECIALS)] != list(SPECIALS):
      raise ValueError(f"WordTokenizer: the vocabulary must start with {list(SPECIALS)}")
    self.vocab, self.lowercase = vocab, lowercase

  @classmethod
  def fit(cls, texts: Sequence[str], *, lowercase: bool = True, min_freq: int = 2,
          max_size: int = 0, **unused: Any) -> "WordTokenizer":
    tokens = (t for text in texts for t in word_tokens(text, lowercase))
    vocab = Vocabulary.build(tokens, min_freq=min_freq, max_size=max_size or None,
                             specials=SPECIALS, unk=UNK)
    return cls(vocab, lowercase)

  def __len__(self) -> int:
    return len(self.vocab)

  def encode(self, text: str) -> np.ndarray:
    return self.vocab.encode(word_tokens(text, self.lowercase))

  def decode(self, ids: Sequence[int]) -> str:
    return detokenize_words([self.vocab.tokens[i] for i in strip_special(ids)])

  def pieces(self, ids: Sequence[int]) -> list[str]:
    return [self.vocab.tokens[int(i)] for i in ids]

  def to_json(self) -> dict:
    return {"kind": self.kind, "lowercase": self.lowercase, "vocab": self.vocab.to_json()}

  @classmethod
  def from_json(cls, data: dict) -> "WordTokenizer":
    return cls(Vocabulary.from_json(data["vocab"]), data["lowercase"])


class SentencePieceTokenizer:
  """A SentencePiece model (Kudo & Richardson 2018) trained on the training text."""
  kind = "sentencepiece"

  def __init__(self, model_proto: bytes, lowercase: bool = False):
    import sentencepiece as spm  # pylint: disable=g-import-not-at-top
    self.model_proto, self.lowercase = model_proto, lowercase
    self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
    got = [self.sp.pad_id(), self.sp.unk_id(), self.sp.bos_id(), self.sp.eos_id()]
    if got != [PAD_ID, UNK_ID, BOS_ID, EOS_ID]:
      raise ValueError(f"SentencePieceTokenizer: special ids must be pad/unk/bos/eos = 0/1/2/3; "
                       f"got {got}")

  @classmethod
  def fit(cls, texts: Sequence[str], *, lowercase: bool = False, vocab_size: int = 8000,
          model_type: str = "unigram", seed: int = 0, **unused: Any) -> "SentencePieceTokenizer":
    import sentencepiece as spm  # pylint: disable=g-import-not-at-top
    texts = [t.lower() if lowercase else t for t in texts]
    out = io.BytesIO()
    try:
      spm.SentencePieceTrainer.train(
          sentence_iterator=iter(texts), model_writer=out, vocab_size=vocab_size,
          model_type=model_type, character_coverage=1.0, pad_id=PAD_ID, unk_id=UNK_ID,
          bos_id=BOS_ID, eos_id=EOS_ID, pad_piece=PAD, unk_piece=UNK, bos_piece=BOS,
          eos_piece=EOS, num_threads=1, minloglevel=2,
          train_extremely_large_corpus=False)
    except RuntimeError as e:
      raise ValueError(f"data.vocab_size={vocab_size}: sentencepiece training failed: "
                       f"{' '.join(str(e).split())}") from None
    return cls(out.getvalue(), lowercase)

  def __len__(self) -> int:
    return self.sp.get_piece_size()

  def encode(self, text: str) -> np.ndarray:
    return np.asarray(self.sp.encode(text.lower() if self.lowercase else text), np.int32)

  def decode(self, ids: Sequence[int]) -> str:
    return self.sp.decode([int(i) for i in strip_special(ids)])

  def pieces(self, ids: Sequence[int]) -> list[str]:
    return [self.sp.id_to_piece(int(i)) for i in ids]

  def to_json(self) -> dict:
    return {"kind": self.kind, "lowercase": self.lowercase,
            "model": base64.b64encode(self.model_proto).decode("ascii")}

  @classmethod
  def from_json(cls, data: dict) -> "SentencePieceTokenizer":
    return cls(base64.b64decode(data["model"]), data["lowercase"])


TOKENIZERS = {"word": WordTokenizer, "sentencepiece": SentencePieceTokenizer}


def tokenizer_from_json(data: dict):
  if data.get("kind") not in TOKENIZERS:
    raise ValueError(f"unknown tokenizer kind {data.get('kind')!r} in the checkpoint metadata")
  return TOKENIZERS[data["kind"]].from_json(data)


def strip_special(ids: Sequence[int]) -> list[int]:
  """The ids before the first ``<eos>``, without ``<pad>``/``<bos>``."""
  out = []
  for i in ids:
    i = int(i)
    if i == EOS_ID:
      break
    if i not in (PAD_ID, BOS_ID):
      out.append(i)
  return out


# ------------------------------------------------------------------------------- the dataset


@dataclasses.dataclass
class ParallelSplit:
  """Encoded pairs (``src`` ends with ``<eos>``; ``tgt`` has no specials) and the raw text."""
  src: list[np.ndarray]
  tgt: list[np.ndarray]
  src_text: list[str]
  tgt_text: list[str]

  def __len__(self) -> int:
    return len(self.src)


@dataclasses.dataclass
class ParallelData:
  source_lang: str
  target_lang: str
  src_tokenizer: Any
  tgt_tokenizer: Any
  splits: dict[str, ParallelSplit]


@dataclasses.dataclass(frozen=True)
class TokenizerOptions:
  kind: str = "word"
  lowercase: bool = True
  min_freq: int = 2  # word
  max_vocab: int = 0  # word; 0: no cap
  vocab_size: int = 8000  # sentencepiece
  model_type: str = "unigram"  # sentencepiece: unigram | bpe

  def fit(self, texts: Sequence[str], seed: int = 0):
    if self.kind not in TOKENIZERS:
      raise ValueError(f"data.tokenizer must be one of {sorted(TOKENIZERS)}; got {self.kind!r}")
    return TOKENIZERS[self.kind].fit(texts, lowercase=self.lowercase, min_freq=self.min_freq,
                                     max_size=self.max_vocab, vocab_size=self.vocab_size,
                                     model_type=self.model_type, seed=seed)


def encode_source(tokenizer, text: str) -> np.ndarray:
  ids = tokenizer.encode(text)
  return np.concatenate([ids, np.asarray([EOS_ID], np.int32)]).astype(np.int32)


def load_parallel(name: str, source_lang: str, target_lang: str, options: TokenizerOptions, *,
                  data_dir: str | None = None, manual_dir: str | None = None,
                  tokenizers: tuple[Any, Any] | None = None, max_length: int = 0,
                  splits: Sequence[str] | None = None, seed: int = 0) -> ParallelData:
  """Every split of ``name`` in the direction ``source_lang`` -> ``target_lang``.

  Tokenizers are fit on the training split unless given (a resumed or restored run passes
  the checkpoint's). ``max_length > 0`` drops training pairs whose source or target is longer
  (in tokens); evaluation splits are kept whole.
  """
  for key, lang in (("data.source_lang", source_lang), ("data.target_lang", target_lang)):
    if lang not in LANGUAGES:
      raise ValueError(f"{key} must be one of {list(LANGUAGES)}; got {lang!r}")
  if source_lang == target_lang:
    raise ValueError(f"data.source_lang and data.target_lang must differ; both are {source_lang!r}")
  builder = prepare(name, data_dir=data_dir, manual_dir=manual_dir)
  wanted = list(splits or builder.info.splits)
  if "train" not in wanted and tokenizers is None:
    wanted.insert(0, "train")
  raw = {s: read_split(builder, s) for s in wanted}
  if tokenizers is None:
    tokenizers = (options.fit(raw["train"][source_lang], seed),
                  options.fit(raw["train"][target_lang], seed))
  src_tok, tgt_tok = tokenizers
  out = {}
  for split, text in raw.items():
    src_text, tgt_text = text[source_lang], text[target_lang]
    src = [encode_source(src_tok, s) for s in src_text]
    tgt = [tgt_tok.encode(t) for t in tgt_text]
    keep = range(len(src))
    if split == "train" and max_length > 0:
      keep = [i for i in keep if len(src[i]) <= max_length and len(tgt[i]) + 1 <= max_length]
    for i in keep:
      if len(src[i]) < 2 or len(tgt[i]) < 1:
        raise ValueError(f"{name} {split} pair {i}: a side has no tokens")
    out[split] = ParallelSplit([src[i] for i in keep], [tgt[i] for i in keep],
                               [src_text[i] for i in keep], [tgt_text[i] for i in keep])
  return ParallelData(source_lang, target_lang, src_tok, tgt_tok, out)


# ------------------------------------------------------------------------------------ batches


def pad_pairs(src: Sequence[np.ndarray], tgt: Sequence[np.ndarray], index: Sequence[int], *,
              batch_size: int, pad_multiple: int = 1, min_src: int = 1,
              min_tgt: int = 1) -> dict[str, np.ndarray]:
  """One padded batch of pairs; rows past ``len(src)`` are weight-0 filler; the source and
  target are at least ``min_src`` / ``min_tgt`` wide (a process's rows of a global batch).

  Returns ``src [B, S]``, ``src_lengths [B]``, ``tgt_in [B, T]`` (``<bos> y``), ``tgt_out
  [B, T]`` (``y <eos>``), ``tgt_mask [B, T]``, ``weights [B]`` and ``index [B]`` (the
  examples' positions in their split; -1 for filler).
  """
  n = len(src)
  if n > batch_size or len(tgt) != n:
    raise ValueError(f"pad_pairs: {n} sources and {len(tgt)} targets for a batch of {batch_size}")
  src_lengths = np.ones(batch_size, np.int32)
  tgt_lengths = np.ones(batch_size, np.int32)
  if n:
    src_lengths[:n] = [len(x) for x in src]
    tgt_lengths[:n] = [len(y) + 1 for y in tgt]
  s = max(round_up(int(src_lengths.max()), pad_multiple), min_src)
  t = max(round_up(int(tgt_lengths.max()), pad_multiple), min_tgt)
  src_ids = np.full((batch_size, s), PAD_ID, np.int32)
  tgt_in = np.full((batch_size, t), PAD_ID, np.int32)
  tgt_out = np.full((batch_size, t), PAD_ID, np.int32)
  tgt_in[:, 0] = BOS_ID
  tgt_out[n:, 0] = EOS_ID
  for i, (x, y) in enumerate(zip(src, tgt)):
    src_ids[i, :len(x)] = x
    tgt_in[i, 1:len(y) + 1] = y
    tgt_out[i, :len(y)] = y
    tgt_out[i, len(y)] = EOS_ID
  src_ids[n:, 0] = EOS_ID
  weights = np.zeros(batch_size, np.float32)
  weights[:n] = 1.0
  mask = (np.arange(t)[None, :] < tgt_lengths[:, None]).astype(np.float32) * weights[:, None]
  rows = np.full(batch_size, -1, np.int32)
  rows[:n] = np.asarray(index, np.int32)[:n]
  return {"src": src_ids, "src_lengths": src_lengths, "tgt_in": tgt_in, "tgt_out": tgt_out,
          "tgt_mask": mask, "weights": weights, "index": rows}


def pair_batches(split: ParallelSplit, batch_size: int, **options: Any) -> BucketedBatches:
  """Length-bucketed batches of sentence pairs (``seqjax.data.batching.BucketedBatches``;
  ``options`` are its ``shuffle``, ``seed``, ``bucket_chunk``, ``pad_multiple``, ``min_length``,
  ``shard``): padded along the source and the target + 1, bucketed by the longer."""

  def pad(split, indices, rows, widths):
    return pad_pairs([split.src[i] for i in indices], [split.tgt[i] for i in indices], indices,
                     batch_size=rows, min_src=widths[0], min_tgt=widths[1])

  lengths = np.asarray([(len(x), len(y) + 1) for x, y in zip(split.src, split.tgt)], np.int64)
  return BucketedBatches(split, batch_size, pad=pad, lengths=lengths, **options)
