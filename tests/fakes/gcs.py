"""A stand-in for Google Cloud Storage, so that ``--workdir=gs://bucket/run`` is tested end to
end without a network: every ``gs://bucket/key`` is the file ``ROOT/bucket/key``.

- ``etils.epath`` (everything seqjax writes, and orbax's own path operations) reaches gs://
  through fsspec's ``gcs`` protocol: ``FakeGCS`` is registered for it (``gs`` and ``gcs``).
  It is a ``DirFileSystem``, so a path reaches it only as a URL; a stray ``os.*`` call on
  ``gs://bucket/run`` would write a local folder ``gs:`` instead, which the tests look for.
- orbax writes arrays through TensorStore, whose kvstore for a gs:// path is its GCS driver;
  ``install`` points orbax's choice of kvstore at TensorStore's file driver on the same
  directory, and answers orbax's question about hierarchical namespaces (no).

``install(root)`` in this process; in a child process, ``env(root)`` gives the environment that
makes ``gcs_site/sitecustomize.py`` call it at start-up.
"""

from __future__ import annotations

import os

import fsspec
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

ROOT_ENV = "SEQJAX_FAKE_GCS_ROOT"
_SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gcs_site")
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeGCS(DirFileSystem):
  protocol = ("gs", "gcs")

  def __init__(self, *args, **kwargs):
    del args, kwargs  # gcsfs options (finalize_on_close, ...)
    super().__init__(path=os.environ[ROOT_ENV], fs=LocalFileSystem())


def local(url: str) -> str:
  """The file that stands for ``gs://bucket/key``."""
  assert url.startswith("gs://"), url
  return os.path.join(os.environ[ROOT_ENV], url[len("gs://"):])


def install(root: str) -> None:
  """gs:// in this process is ``root`` from now on (one root per process: fsspec and epath
  cache the filesystem)."""
  if os.environ.get(ROOT_ENV, root) != root:
    raise RuntimeError(f"the fake gs:// root is {os.environ[ROOT_ENV]} in this process already")
  os.environ[ROOT_ENV] = root
  os.makedirs(root, exist_ok=True)
  fsspec.register_implementation("gs", FakeGCS, clobber=True)
  fsspec.register_implementation("gcs", FakeGCS, clobber=True)
  from orbax.checkpoint._src.path import gcs_utils  # pylint: disable=g-import-not-at-top

  def kvstore(ckpt_path: str) -> dict:
    return {"driver": "file", "path": local(str(ckpt_path))}

  gcs_utils.get_kvstore_for_gcs = kvstore
  gcs_utils.is_hierarchical_namespace_enabled = lambda path: False
  from seqjax.train import workdir  # pylint: disable=g-import-not-at-top
  workdir._missing_backend = lambda scheme: None  # pylint: disable=protected-access


def env(root: str) -> dict:
  """The environment of a child process that sees gs:// as ``root``."""
  out = dict(os.environ)
  out[ROOT_ENV] = root
  out["PYTHONPATH"] = os.pathsep.join(
      p for p in (_SITE, _REPO, out.get("PYTHONPATH")) if p)
  return out
