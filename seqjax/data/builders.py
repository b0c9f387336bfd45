"""What every TFDS builder of seqjax shares: finding the raw files in a local directory
(``data.manual_dir``), reading them, and preparing a registered dataset as ArrayRecord (no
TensorFlow) from that directory or by downloading from the canonical public source.

Each builder reads a local directory when one is given (``builder.local_dir``, set by
``prepare``; or TFDS's manual directory when it holds the files) and otherwise downloads.
The datasets themselves are registered in ``seqjax.data.registry``.
"""

from __future__ import annotations

import gzip
import os
from typing import Any



def read_text(path: str) -> str:
  """Reads a UTF-8 file, gunzipping ``*.gz``."""
  opener = gzip.open if str(path).endswith(".gz") else open
  with opener(path, "rt", encoding="utf-8") as f:
    return f.read()


def _find(directory: str, name: str) -> str | None:
  for candidate in (name, name + ".gz"):
    path = os.path.join(directory, candidate)
    if os.path.exists(path):
      return path
  return None


def find_local_files(directory: str, names: dict[str, str]) -> dict[str, str]:
  """Paths of ``names`` in ``directory``; ``FileNotFoundError`` lists the missing ones."""
  found = {k: _find(directory, n) for k, n in names.items()}
  missing = [names[k] for k, p in found.items() if p is None]
  if missing:
    raise FileNotFoundError(f"data.manual_dir={directory!r} lacks {missing} (a .gz copy is "
                            "also accepted)")
  return found


def check_manual_dir(directory: str, names: dict[str, str] | None = None) -> None:
  """``data.manual_dir``: empty (download), or a directory holding ``names`` (when given);
  ``FileNotFoundError`` naming the key otherwise."""
  if not directory:
    return
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"data.manual_dir={directory!r} is not a directory")
  if names is not None:
    find_local_files(directory, names)


def local_paths(builder, dl_manager, names: dict[str, str]) -> dict[str, str] | None:
  """Paths of the raw files ``names`` in the local directory, or None to download.

  ``builder.local_dir`` (set by ``prepare``) must hold every file. Without it, TFDS's manual
  directory is used when it holds them all (``tfds`` users), else None.
  """
  given = getattr(builder, "local_dir", None)
  if given:
    return find_local_files(given, names)
  manual = os.fspath(dl_manager._manual_dir or "")  # pylint: disable=protected-access
  try:
    return find_local_files(manual, names) if manual else None
  except FileNotFoundError:
    return None


def prepare(spec: Any, *, data_dir: str | None = None, manual_dir: str | None = None):
  """Prepares the TFDS builder of ``spec`` (a ``seqjax.data.registry.DatasetSpec``): from
  ``manual_dir`` when given, else by downloading. Errors name the config key
  (``data.manual_dir``) and suggest a local copy when a download fails."""
  if manual_dir is not None and not os.path.isdir(manual_dir):
    raise FileNotFoundError(f"data.manual_dir={manual_dir!r} is not a directory")
  kwargs = {"config": spec.config} if spec.config else {}
  builder = spec.builder(data_dir=data_dir, file_format="array_record", **kwargs)
  builder.local_dir = manual_dir
  try:
    builder.download_and_prepare()
  except (FileNotFoundError, ValueError):
    raise
  except Exception as e:  # network failures surface as many exception types
    if manual_dir is None:
      raise RuntimeError(f"could not download the {spec.name} data ({type(e).__name__}: {e}); "
                         "give a local copy with --config.data.manual_dir=DIR") from e
    raise
  return builder
