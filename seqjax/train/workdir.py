"""One workdir, one trainer: an exclusive lock on ``workdir/.lock`` for the life of a run.

The lock is an ``fcntl.flock`` on a file that also records the holder (host, pid, start time,
command line), so a second trainer started on the same workdir is refused in one line that says
who holds it. The kernel releases the lock when the holder exits, however it exits (``kill -9``
included), so a killed run never leaves a stale lock behind. (``flock`` is local to one machine
on some network file systems; the record still names the holder there.)
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import sys
from typing import Optional

LOCK = ".lock"


class WorkdirBusy(Exception):
  """Another process holds the workdir; the message names it."""


def check_workdir(workdir: str) -> None:
  """``--workdir`` must be a directory or a path that can become one (``NotADirectoryError``
  naming the flag otherwise)."""
  if not workdir:
    raise ValueError("--workdir is empty")
  if "://" in workdir:  # it would become a local folder named "gs:" (and lose the run)
    raise ValueError(f"--workdir={workdir!r}: workdirs on object storage are not supported yet "
                     "(the checkpoint seal, the lock and the records use local file operations); "
                     "use a directory every host mounts (NFS, Filestore)")
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
