"""What every TFDS builder of seqjax shares: finding the raw files in a local directory
(``data.manual_dir``), reading them, and preparing a registered dataset as ArrayRecord (no
TensorFlow) from that directory or by downloading from the canonical public source.

Each builder reads a local directory when one is given (``builder.local_dir``, set by
``prepare``; or TFDS's manual directory when it holds the files) and otherwise downloads.
The datasets themselves are registered in ``seqjax.data.registry``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from typing import Any, Callable

from seqjax.files import first_line, sha256_file



def decode_utf8(data: bytes, where: str) -> str:
  """``data`` as UTF-8; ``ValueError`` naming ``where``, the line and the byte otherwise."""
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise ValueError(f"{where}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}, "
                     f"line {line})") from None


def read_text(path: str) -> str:
  """Reads a UTF-8 file, gunzipping ``*.gz``; ``ValueError`` naming the file, line and byte
  when it is not UTF-8, or when a ``.gz`` file is not gzip."""
  path = os.fspath(path)
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except (gzip.BadGzipFile, EOFError) as e:
    raise ValueError(f"{path}: not a complete gzip file ({e})") from None
  return decode_utf8(data, path)


def read_lines(path: str) -> list[str]:
  """The lines of the UTF-8 text file ``path`` (``read_text``), without their line ends."""
  return read_text(path).splitlines()


def iter_lines(path: str):
  """The lines of the UTF-8 text file ``path`` (``.gz`` read directly), one at a time, without
  their line ends (for files too large to hold twice); ``ValueError`` naming ``file:line`` and
  the byte for a line that is not UTF-8."""
  path = os.fspath(path)
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      for n, raw in enumerate(f, start=1):
        try:
          yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
          raise ValueError(f"{path}:{n}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column "
                           f"{e.start + 1})") from None
  except (gzip.BadGzipFile, EOFError) as e:
    raise ValueError(f"{path}: not a complete gzip file ({e})") from None


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


SOURCE = "seqjax_source.json"  # the fingerprint of the files a prepared copy was made from


def _is_empty(path: str) -> bool:
  if os.path.getsize(path) == 0:
    return True
  if path.endswith(".gz"):
    try:
      with gzip.open(path, "rb") as f:
        return not f.read(1)
    except (OSError, EOFError) as e:
      raise ValueError(f"data.manual_dir: {path} is not a complete gzip file ({e})") from None
  return False


def source_fingerprint(spec: Any, manual_dir: str) -> dict[str, list]:
  """``{file name: [size, sha256]}`` of the raw files of ``spec`` in ``manual_dir`` (the files
  the spec declares; every file of the directory when it declares none), and ``{folder/:
  [files, hash of their names and sizes]}`` of the spec's ``file_dirs`` that exist (image
  folders). An empty file is a ``ValueError`` naming it: it would prepare an empty (or silently
  smaller) dataset."""
  if spec.files:
    paths = sorted(find_local_files(manual_dir, dict(spec.files)).values())
  else:
    paths = sorted(os.path.join(manual_dir, n) for n in os.listdir(manual_dir)
                   if os.path.isfile(os.path.join(manual_dir, n)))
  out = {}
  for path in paths:
    if _is_empty(path):
      raise ValueError(f"data.manual_dir: {path} is empty")
    out[os.path.basename(path)] = [os.path.getsize(path), sha256_file(path)]
  for folder in getattr(spec, "file_dirs", ()):
    root = os.path.join(manual_dir, folder)
    if os.path.isdir(root):  # names and sizes (hashing every image would read them all)
      listing = sorted((os.path.relpath(os.path.join(d, f), root),
                        os.path.getsize(os.path.join(d, f)))
                       for d, _, names in os.walk(root) for f in names)
      out[folder + "/"] = [len(listing), hashlib.sha256(json.dumps(listing).encode()).hexdigest()]
  return out


def _prepared_from(data_dir: str) -> dict | None:
  try:
    with open(os.path.join(data_dir, SOURCE), encoding="utf-8") as f:
      return json.load(f)["files"]
  except (OSError, ValueError, KeyError, TypeError):
    return None


def _difference(old: dict | None, new: dict) -> str:
  if old is None:
    return "it records no source fingerprint"
  for name in sorted(set(old) | set(new)):
    if name not in new:
      return f"{name} is gone"
    if name not in old:
      return f"{name} is new"
    if old[name] != new[name]:
      (a, _), (b, _) = old[name], new[name]
      if name.endswith("/"):
        return (f"{name} changed ({a} -> {b} files)" if a != b
                else f"a file in {name} was replaced or resized")
      return f"{name} changed ({a} -> {b} bytes)" if a != b else f"{name} changed (same size)"
  return "unchanged"


def prepare(spec: Any, *, data_dir: str | None = None, manual_dir: str | None = None,
            log: Callable[[str], None] = print):
  """Prepares the TFDS builder of ``spec`` (a ``seqjax.data.registry.DatasetSpec``): from
  ``manual_dir`` when given, else by downloading. Errors name the config key
  (``data.manual_dir``) and suggest a local copy when a download fails.

  A copy prepared from ``manual_dir`` records the size and SHA-256 of the raw files it was made
  from (``seqjax_source.json``); when they differ from the files there now (edited, replaced,
  or a copy prepared before fingerprints), the copy is deleted and prepared again, said in one
  ``log`` line. An empty raw file, or raw files that yield no examples, are a ``ValueError``
  naming them, and nothing is cached.
  """
  if manual_dir is not None and not os.path.isdir(manual_dir):
    raise FileNotFoundError(f"data.manual_dir={manual_dir!r} is not a directory")
  kwargs = {"config": spec.config} if spec.config else {}

  def make():
    b = spec.builder(data_dir=data_dir, file_format="array_record", **kwargs)
    b.local_dir = manual_dir
    return b

  builder = make()
  fingerprint = None
  if manual_dir is not None:
    fingerprint = source_fingerprint(spec, manual_dir)
    prepared = os.fspath(builder.data_dir)
    if os.path.exists(os.path.join(prepared, "dataset_info.json")):
      old = _prepared_from(prepared)
      if old != fingerprint:
        log(f"the prepared {spec.name} data in {prepared} was not made from the files in "
            f"{manual_dir} ({_difference(old, fingerprint)}): preparing it again")
        shutil.rmtree(prepared)
        builder = make()
  try:
    builder.download_and_prepare()
  except (FileNotFoundError, ValueError):
    raise
  except AssertionError as e:  # TFDS: "No examples were yielded."
    raise ValueError(f"the {spec.name} files in data.manual_dir={manual_dir!r} yield no "
                     f"examples ({first_line(e)})") from None
  except Exception as e:  # network failures surface as many exception types
    if manual_dir is None:
      raise RuntimeError(f"could not download the {spec.name} data ({type(e).__name__}: {e}); "
                         "give a local copy with --config.data.manual_dir=DIR") from e
    raise
  if fingerprint is not None and _prepared_from(os.fspath(builder.data_dir)) != fingerprint:
    path = os.path.join(os.fspath(builder.data_dir), SOURCE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      json.dump({"manual_dir": os.path.abspath(manual_dir), "files": fingerprint}, f, indent=1)
    os.replace(path + ".tmp", path)
  return builder
