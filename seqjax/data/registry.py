"""One registry of every dataset seqjax can prepare: a ``DatasetSpec`` per name, registered by
the module that defines its TFDS builder.

A task looks its dataset up by name and kind, checks a ``data.manual_dir`` against the files
the spec declares, and prepares it, all through this module:

>>> spec = get("sst2", kind=CLASSIFICATION)
>>> spec.num_classes, sorted(spec.files)
(2, ['test', 'train', 'validation'])
>>> names(LM)
['ptb_char', 'ptb_word', 'tiny_shakespeare']
>>> get("sst2", kind=LM)
Traceback (most recent call last):
...
ValueError: data.name must be one of ['ptb_char', 'ptb_word', 'tiny_shakespeare']; got 'sst2'
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Mapping, Optional

LM = "lm"  # a text stream read window by window
CLASSIFICATION = "classification"  # texts with a label
TAGGING = "tagging"  # sentences with a tag per token
TRANSLATION = "translation"  # sentence pairs
SESSIONS = "sessions"  # click sessions (item sequences)
FORECAST = "forecast"  # one real-valued series
SERIES = "series"  # labelled real-valued (multivariate, variable-length) series
VQA = "vqa"  # images with questions and answers
CAPTIONS = "captions"  # images with reference captions
KINDS = (LM, CLASSIFICATION, TAGGING, TRANSLATION, SESSIONS, FORECAST, SERIES, VQA, CAPTIONS)

# The modules that define builders and register their datasets on import.
_MODULES = ("seqjax.data.corpora", "seqjax.data.reviews", "seqjax.data.conllu",
            "seqjax.data.translate", "seqjax.data.recsys", "seqjax.data.timeseries",
            "seqjax.data.clevr", "seqjax.data.captions")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """A dataset seqjax can prepare.

  Attributes:
    name: what ``data.name`` says.
    kind: one of ``KINDS`` (what a task can read from it).
    builder: the TFDS builder class (``seqjax.data.builders.prepare`` makes it).
    config: the builder config's name, if the builder has several.
    files: the raw files a local directory (``data.manual_dir``) must hold, by role; ``None``
      when the builder checks its own (an archive).
    num_classes: the label count of a classification dataset.
    file_dirs: folders of the local directory (images) whose file names and sizes join the
      fingerprint of a prepared copy, so that replacing a file there prepares it again.
    description: one line for listings.
  """
  name: str
  kind: str
  builder: Any
  config: Optional[str] = None
  files: Optional[Mapping[str, str]] = None
  num_classes: int = 0
  description: str = ""
  file_dirs: tuple[str, ...] = ()

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"DatasetSpec {self.name!r}: kind must be one of {list(KINDS)}; got "
                       f"{self.kind!r}")


_REGISTRY: dict[str, DatasetSpec] = {}
_loaded = False


def register(spec: DatasetSpec) -> DatasetSpec:
  """Adds ``spec``; a second spec under the same name is an error."""
  if spec.name in _REGISTRY and _REGISTRY[spec.name] != spec:
    raise ValueError(f"dataset {spec.name!r} is already registered")
  _REGISTRY[spec.name] = spec
  return spec


def _load() -> None:
  global _loaded
  if not _loaded:
    _loaded = True
    for module in _MODULES:
      importlib.import_module(module)


def names(kind: Optional[str] = None) -> list[str]:
  """Registered dataset names (of ``kind``, when given), sorted."""
  _load()
  return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)


def get(name: str, kind: Optional[str] = None) -> DatasetSpec:
  """The spec of ``name``; ``ValueError`` naming ``data.name`` and the choices of ``kind``."""
  _load()
  spec = _REGISTRY.get(name)
  if spec is None or (kind is not None and spec.kind != kind):
    raise ValueError(f"data.name must be one of {names(kind)}; got {name!r}")
  return spec


def check_manual_dir(directory: str, name: str) -> None:
  """``data.manual_dir`` for dataset ``name``: empty (download), or a directory holding the
  spec's files (``FileNotFoundError`` naming the key and the missing files otherwise)."""
  from seqjax.data import builders  # pylint: disable=g-import-not-at-top
  builders.check_manual_dir(directory, get(name).files)


def prepare(name: str, *, kind: Optional[str] = None, data_dir: Optional[str] = None,
            manual_dir: Optional[str] = None):
  """Prepares dataset ``name`` (``seqjax.data.builders.prepare``) and returns its builder."""
  from seqjax.data import builders  # pylint: disable=g-import-not-at-top
  return builders.prepare(get(name, kind), data_dir=data_dir, manual_dir=manual_dir)
