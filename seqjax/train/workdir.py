"""One workdir, one trainer: an exclusive lock for the life of a run; workdirs on object storage.

A local workdir is locked with an ``fcntl.flock`` on ``workdir/.lock``, a file that also records
the holder (host, pid, start time, command line), so a second trainer started on the same
workdir is refused in one line that says who holds it. The kernel releases the lock when the
holder exits, however it exits (``kill -9`` included), so a killed run never leaves a stale lock
behind. (``flock`` is local to one machine on some network file systems; the record still names
the holder there.)

A workdir on object storage (``--workdir=gs://bucket/run``) is used in two parts:

- the checkpoints (``checkpoints/``, ``best/``, ``corrupt/``) are written there directly, by
  orbax (asynchronously) and sealed and verified through ``etils.epath``;
- everything else a run writes (``metrics.jsonl``, ``run.json``, ``config.json``,
  ``results.json``, TensorBoard events, figures, decoded outputs) goes to a local *mirror*
  (``Mirror``: ``$SEQJAX_MIRROR_DIR`` or ``~/.cache/seqjax/workdirs/<name>``), filled from the
  bucket when the run starts and uploaded to it after every checkpoint and at the end, so the
  bucket's records are as new as its newest checkpoint, and a run resumed on another machine
  continues them.

Object storage has no ``flock``: the lock there is a lease (``RemoteLock``), an object
``.lock`` holding the holder's record and a heartbeat rewritten every ``BEAT_S`` seconds. A
second trainer is refused while the heartbeat is younger than ``LEASE_S``; a lease whose holder
died without releasing it is taken over after that, said in one line. On ``gs://`` the lease is
created with a generation precondition (``if_generation_match=0``, google-cloud-storage), so of
two trainers starting together exactly one gets it; elsewhere it is written and read back.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from typing import Callable, Optional

LOCK = ".lock"
REMOTE_MARK = ".seqjax_remote"  # in a mirror: the URL of the workdir it mirrors
SCHEMES = ("gs",)  # object stores orbax writes checkpoints to natively
NOT_MIRRORED = ("checkpoints", "best", "corrupt")  # top-level entries that stay remote
LEASE_S = 180.0
BEAT_S = 60.0


class WorkdirBusy(Exception):
  """Another process holds the workdir; the message names it."""


def is_remote(path: str) -> bool:
  """Whether ``path`` is a URL (``gs://bucket/run``), not a local path."""
  return "://" in os.fspath(path)


def path(p: str):
  """``p`` as an ``etils.epath.Path`` (local paths and ``gs://`` alike)."""
  from etils import epath  # pylint: disable=g-import-not-at-top
  return epath.Path(p)


def _missing_backend(scheme: str) -> Optional[str]:
  """What is not installed that a ``scheme://`` workdir needs, or None."""
  if scheme == "gs":
    missing = [pkg for pkg, module in (("gcsfs", "gcsfs"),
                                       ("google-cloud-storage", "google.cloud.storage"))
               if not _importable(module)]
    try:
      import fsspec  # pylint: disable=g-import-not-at-top
      fsspec.get_filesystem_class("gcs")
    except (ImportError, ValueError):
      missing = missing or ["gcsfs"]
    else:
      missing = [m for m in missing if m != "gcsfs"]
    return ", ".join(missing) or None
  return None


def _importable(module: str) -> bool:
  try:
    return importlib.util.find_spec(module) is not None
  except (ImportError, ValueError):
    return False


def check_remote(workdir: str) -> None:
  """A ``scheme://bucket/path`` workdir this installation can write (``ValueError`` naming the
  flag otherwise: another scheme, no bucket or path, or the client libraries missing)."""
  scheme, _, rest = workdir.partition("://")
  if scheme not in SCHEMES:
    raise ValueError(f"--workdir={workdir!r}: {scheme}:// is not supported; workdirs on object "
                     f"storage are {', '.join(s + '://' for s in SCHEMES)} (orbax writes "
                     "checkpoints there natively); mount other stores as a directory")
  bucket, _, key = rest.partition("/")
  if not bucket or not key.strip("/"):
    raise ValueError(f"--workdir={workdir!r}: give a bucket and a path in it "
                     f"({scheme}://BUCKET/RUN), not a bucket's root")
  missing = _missing_backend(scheme)
  if missing:
    raise ValueError(f"--workdir={workdir!r}: writing to {scheme}:// needs {missing}: "
                     'pip install -e ".[gcs]"')


def check_workdir(workdir: str) -> None:
  """``--workdir`` must be a directory or a path that can become one (``NotADirectoryError``
  naming the flag otherwise), or a URL ``check_remote`` accepts."""
  if not workdir:
    raise ValueError("--workdir is empty")
  if is_remote(workdir):
    check_remote(workdir)
    return
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f"--workdir={workdir!r} is a file, not a directory")
  parent = os.path.dirname(os.path.abspath(workdir))
  while parent and not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if parent and not os.path.isdir(parent):
    raise NotADirectoryError(f"--workdir={workdir!r}: {parent!r} is a file, not a directory")


def holder(workdir: str) -> Optional[dict]:
  """The record of the process that holds (or last held) the workdir's lock, if any."""
  try:
    with open(os.path.join(workdir, LOCK), encoding="utf-8") as f:
      return json.loads(f.read() or "null")
  except (OSError, ValueError):
    return None


def live_holder(workdir: str) -> Optional[dict]:
  """The lock record of a trainer that is running in a local ``workdir`` now, on this host
  (its pid alive, not this process), else None. It reads the record and never takes the lock,
  so a trainer starting meanwhile is not disturbed. Used to word what a reader of a live
  workdir sees: a checkpoint being saved does not verify yet."""
  if is_remote(workdir):
    return None
  record = holder(workdir)
  if not isinstance(record, dict) or record.get("host") != socket.gethostname():
    return None
  pid = record.get("pid")
  if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
    return None
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return None
  except PermissionError:  # alive, another user's
    pass
  return record


class WorkdirLock:
  """``with WorkdirLock(workdir):`` holds the workdir exclusively, else ``WorkdirBusy``.

  With ``active=False`` (every process but the first of a multi-process run) it does nothing.
  """

  def __init__(self, workdir: str, active: bool = True):
    self.path = os.path.join(workdir, LOCK)
    self.workdir = workdir
    self.active = active
    self._fd: Optional[int] = None

  def __enter__(self) -> "WorkdirLock":
    if not self.active:
      return self
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      os.close(fd)
      who = holder(self.workdir) or {}
      raise WorkdirBusy(
          f"--workdir={self.workdir} is in use by pid {who.get('pid', '?')} on host "
          f"{who.get('host', '?')} (since {who.get('since', '?')}); one workdir, one trainer: "
          "wait for it, stop it, or use another --workdir") from None
    record = {"host": socket.gethostname(), "pid": os.getpid(),
              "since": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": " ".join(sys.argv)}
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(record).encode())
    os.fsync(fd)
    self._fd = fd
    return self

  def __exit__(self, *exc) -> bool:
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None
    return False


# ---- workdirs on object storage ------------------------------------------------------------
def remote_of(local: str) -> Optional[str]:
  """The URL of the remote workdir that the local directory ``local`` mirrors, or None."""
  try:
    with open(os.path.join(local, REMOTE_MARK), encoding="utf-8") as f:
      return f.read().strip() or None
  except OSError:
    return None


def checkpoint_root(workdir: str) -> str:
  """Where the checkpoints of ``workdir`` live: the remote workdir when ``workdir`` is a
  mirror, else ``workdir`` itself (a local path made absolute, or a URL)."""
  if is_remote(workdir):
    return workdir.rstrip("/")
  return remote_of(workdir) or os.path.abspath(workdir)


def shown(workdir: str) -> str:
  """How messages name ``workdir``: the remote URL for a mirror."""
  return remote_of(workdir) or workdir


def mirror_dir(remote: str) -> str:
  """The default local mirror of ``remote``: ``$SEQJAX_MIRROR_DIR`` (or
  ``~/.cache/seqjax/workdirs``) / a readable name and a hash of the URL."""
  base = os.environ.get("SEQJAX_MIRROR_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "seqjax", "workdirs")
  name = re.sub(r"[^A-Za-z0-9._-]+", "_", remote.rstrip("/"))[-80:]
  return os.path.join(base, f"{name}-{hashlib.sha256(remote.encode()).hexdigest()[:10]}")


def _remote_files(root) -> list[str]:
  """The files below the epath ``root`` (relative, sorted), leaving out the checkpoint
  directories and the lease."""
  out, stack = [], [("", root)]
  while stack:
    rel, p = stack.pop()
    for child in p.iterdir():
      name = child.name
      crel = f"{rel}{name}"
      if not rel and (name in NOT_MIRRORED or name == LOCK):
        continue
      if child.is_dir():
        stack.append((crel + "/", child))
      else:
        out.append(crel)
  return sorted(out)


class Mirror:
  """The local copy of a remote workdir's records (everything but its checkpoints).

  ``pull`` replaces the local copy with the remote's files (the remote is the truth: a run
  resumed on another machine, or after this machine's copy went stale, continues the remote's
  records); ``push`` uploads each local file that is new or changed since the last push.
  """

  def __init__(self, remote: str, local: Optional[str] = None):
    self.remote = remote.rstrip("/")
    self.local = local or mirror_dir(self.remote)
    self._pushed: dict[str, tuple[int, int]] = {}

  def pull(self) -> int:
    """Fills the local copy from the remote; returns how many files it downloaded."""
    if os.path.isdir(self.local):
      for name in os.listdir(self.local):
        if name == LOCK:  # held by this process (``WorkdirLock`` on the mirror)
          continue
        full = os.path.join(self.local, name)
        if os.path.isdir(full) and not os.path.islink(full):
          shutil.rmtree(full)
        else:
          os.remove(full)
    os.makedirs(self.local, exist_ok=True)
    root = path(self.remote)
    files = _remote_files(root) if root.exists() else []
    for rel in files:
      dest = os.path.join(self.local, *rel.split("/"))
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      with open(dest, "wb") as f:
        f.write((root / rel).read_bytes())
    with open(os.path.join(self.local, REMOTE_MARK), "w", encoding="utf-8") as f:
      f.write(self.remote + "\n")
    self._pushed = {rel: _signature(os.path.join(self.local, rel)) for rel in files}
    return len(files)

  def push(self) -> int:
    """Uploads the local files that are new or changed since the last push (not the mark,
    the lock or ``*.tmp`` files); returns how many."""
    root, count = path(self.remote), 0
    for dirpath, _, names in os.walk(self.local):
      for name in names:
        full = os.path.join(dirpath, name)
        rel = os.path.relpath(full, self.local).replace(os.sep, "/")
        if rel in (REMOTE_MARK, LOCK) or name.endswith(".tmp"):
          continue
        try:
          sig = _signature(full)
          if self._pushed.get(rel) == sig:
            continue
          with open(full, "rb") as f:
            data = f.read()
        except FileNotFoundError:  # removed while we walked
          continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self._pushed[rel] = sig
        count += 1
    return count


def _signature(full: str) -> tuple[int, int]:
  st = os.stat(full)
  return st.st_size, st.st_mtime_ns


def sync(workdir: str, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr,
                                                                      flush=True)) -> None:
  """Uploads a mirror's changed records to its remote workdir (nothing for a local workdir);
  called after each sealed checkpoint by the first process. A failed upload (the store
  unreachable for a while) does not stop training: it is said in one ``log`` line, and the
  files not uploaded go with the next checkpoint's upload (the final one raises)."""
  remote = remote_of(workdir)
  if remote is None:
    return
  mirror = _MIRRORS.get(os.path.abspath(workdir))
  if mirror is None:
    mirror = _MIRRORS[os.path.abspath(workdir)] = Mirror(remote, workdir)
  try:
    mirror.push()
  except Exception as e:  # pylint: disable=broad-except  (gcsfs/aiohttp raise many kinds)
    from seqjax.files import first_line  # pylint: disable=g-import-not-at-top
    log(f"could not upload the run's records to {remote} ({first_line(e, with_type=True)}); "
        "the checkpoint is saved, and they go with the next checkpoint's upload")


_MIRRORS: dict[str, Mirror] = {}


def open_mirror(remote: str, pull: bool = True, local: Optional[str] = None) -> Mirror:
  """The mirror of ``remote`` for this process (in ``local``, default ``mirror_dir``), pulled
  (``pull``) and registered so that ``sync`` on its local path pushes through it."""
  mirror = Mirror(remote, local)
  if pull:
    mirror.pull()
  else:
    os.makedirs(mirror.local, exist_ok=True)
    with open(os.path.join(mirror.local, REMOTE_MARK), "w", encoding="utf-8") as f:
      f.write(mirror.remote + "\n")
  _MIRRORS[os.path.abspath(mirror.local)] = mirror
  return mirror


def _now() -> float:
  return time.time()


def _create_exclusive(target, data: bytes) -> bool:
  """Creates the object ``target`` holding ``data`` only if it does not exist; whether it did.
  On gs:// with google-cloud-storage, one request with ``if_generation_match=0`` (atomic);
  elsewhere an existence check, a write, a pause and a read-back (two writers starting within
  the pause can both see their own record only if the store reorders their writes)."""
  url = os.fspath(target)
  if url.startswith("gs://") and _real_gcs():
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    from google.cloud import storage  # pylint: disable=g-import-not-at-top
    bucket, _, key = url[len("gs://"):].partition("/")
    try:
      storage.Client().bucket(bucket).blob(key).upload_from_string(data, if_generation_match=0)
      return True
    except exceptions.PreconditionFailed:
      return False
  if target.exists():
    return False
  target.write_bytes(data)
  time.sleep(_READ_BACK_S)
  try:
    return target.read_bytes() == data
  except FileNotFoundError:
    return False


_READ_BACK_S = 0.5


def _real_gcs() -> bool:
  """Whether gs:// paths reach Google Cloud Storage (gcsfs behind fsspec, and the
  google-cloud-storage client installed), not a stand-in filesystem registered for the
  scheme."""
  try:
    import fsspec  # pylint: disable=g-import-not-at-top
    cls = fsspec.get_filesystem_class("gcs")
  except (ImportError, ValueError):
    return False
  return cls.__module__.startswith("gcsfs") and _importable("google.cloud.storage")


class RemoteLock:
  """``with RemoteLock(url):`` holds the remote workdir ``url`` through a lease object
  ``url/.lock`` with a heartbeat (see the module's doc), else ``WorkdirBusy`` naming the holder
  and how long ago it beat. With ``active=False`` it does nothing."""

  def __init__(self, remote: str, active: bool = True, log: Callable[[str], None] = print):
    self.remote = remote.rstrip("/")
    self.active = active
    self.log = log
    self.token = uuid.uuid4().hex
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None
    self._target = None

  def _record(self) -> bytes:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                       "since": self._since, "beat": _now(),
                       "command": " ".join(sys.argv)}).encode()

  def __enter__(self) -> "RemoteLock":
    if not self.active:
      return self
    self._target = path(self.remote) / LOCK
    self._target.parent.mkdir(parents=True, exist_ok=True)
    self._since = datetime.datetime.now().isoformat(timespec="seconds")
    for _ in range(3):
      if _create_exclusive(self._target, self._record()):
        break
      try:
        who = json.loads(self._target.read_bytes() or b"null") or {}
      except (FileNotFoundError, ValueError):
        continue  # released (or half-written) meanwhile: try again
      age = _now() - float(who.get("beat", 0))
      if age < LEASE_S:
        raise WorkdirBusy(
            f"--workdir={self.remote} is in use by pid {who.get('pid', '?')} on host "
            f"{who.get('host', '?')} (since {who.get('since', '?')}, its lease renewed "
            f"{max(age, 0):.0f} s ago); one workdir, one trainer: wait for it, stop it, or use "
            f"another --workdir (a lease not renewed for {LEASE_S:.0f} s is taken over)")
      self.log(f"--workdir={self.remote}: taking over the lease of pid {who.get('pid', '?')} on "
               f"host {who.get('host', '?')}, not renewed for {age:.0f} s (that run died "
               "without releasing it)")
      try:
        self._target.unlink()
      except FileNotFoundError:
        pass
    else:
      raise WorkdirBusy(f"--workdir={self.remote}: could not take its lease {self._target} "
                        "(another trainer keeps taking it); use another --workdir")
    self._thread = threading.Thread(target=self._beat, name="seqjax-lease", daemon=True)
    self._thread.start()
    return self

  def _beat(self) -> None:
    while not self._stop.wait(BEAT_S):
      try:
        self._target.write_bytes(self._record())
      except Exception as e:  # pylint: disable=broad-except  (a transient store error)
        self.log(f"could not renew the lease {self._target}: {e}")

  def __exit__(self, *exc) -> bool:
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = None
      try:
        mine = json.loads(self._target.read_bytes()).get("token") == self.token
        if mine:
          self._target.unlink()
      except (FileNotFoundError, ValueError):
        pass
    return False
