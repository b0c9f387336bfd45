"""Small file helpers shared by the checkpoint seal (``seqjax.train.checkpoint``) and the
prepared-data fingerprint (``seqjax.data.builders``).

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "f")
>>> with open(path, "wb") as f:
...   _ = f.write(b"abc")
>>> sha256_file(path)[:16]
'ba7816bf8f01cfea'
>>> first_line(ValueError("bad value\\nmore detail")), first_line(KeyError("k"), with_type=True)
('bad value', "KeyError: 'k'")
"""

from __future__ import annotations

import hashlib
import os

_CHUNK = 1 << 22


def sha256_file(path: str) -> str:
  """The SHA-256 of the file ``path`` (hex), read in 4 MiB chunks; ``path`` may be a URL
  (``gs://...``, read through ``etils.epath``)."""
  h = hashlib.sha256()
  if "://" in os.fspath(path):
    from etils import epath  # pylint: disable=g-import-not-at-top
    opened = epath.Path(path).open("rb")
  else:
    opened = open(path, "rb")
  with opened as f:
    while chunk := f.read(_CHUNK):
      h.update(chunk)
  return h.hexdigest()


def first_line(error: BaseException, with_type: bool = False) -> str:
  """The first line of ``error``'s message (its type's name when it has none), for one-line
  reports; ``with_type`` prefixes ``Type: ``. At most 300 characters."""
  lines = str(error).strip().splitlines()
  text = lines[0] if lines else ""
  if with_type:
    text = f"{type(error).__name__}: {text}"
  return (text or type(error).__name__)[:300]
