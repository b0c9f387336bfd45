"""Orbax checkpoints, sealed with checksums: the last ``keep`` and the best, each with the data
position and metadata.

A checkpoint holds the ``TrainState`` (params, optimizer state, step, RNG key, carry), the data
iterator's position (JSON) and metadata (JSON: the vocabulary, the config), so that a killed run
resumes to the same numbers and evaluation/sampling use the same ids.

Every checkpoint is *sealed* once orbax has written it: ``seqjax_manifest.json`` in its
directory lists each file's size and SHA-256. A checkpoint is restored only after every file
verifies (``verify``); a resumed run takes the newest checkpoint that does, says in one line
which newer ones it skipped and why, and moves those aside (``workdir/corrupt/``) so the run can
write those steps again. A checkpoint without a manifest (its save was killed between orbax's
commit and the seal, or an older seqjax wrote it) is treated as one that does not verify.

The checkpoints of a workdir on object storage (``gs://``; see ``seqjax.train.workdir``) are
written, sealed, verified and moved aside there, through ``etils.epath``; a local mirror of
such a workdir names it (``workdir.checkpoint_root``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from typing import Any, Callable, Optional

import jax
import orbax.checkpoint as ocp

from seqjax.files import first_line, sha256_file
from seqjax.train import workdir as workdir_lib

MANIFEST = "seqjax_manifest.json"


class CheckpointError(Exception):
  """A workdir's checkpoints cannot be used (none verifies, or one does not fit the model the
  config builds); the message is one line naming the checkpoint."""


def _barriers(prefix: str) -> ocp.options.MultiprocessingOptions:
  return ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=prefix)


def _join(directory: str, rel: str) -> str:
  return f"{directory.rstrip('/')}/{rel}" if workdir_lib.is_remote(directory) else \
      os.path.join(directory, rel)


def _files(directory: str) -> list[str]:
  """The files below checkpoint ``directory`` (relative, ``/``-separated, sorted), but the
  manifest."""
  if not workdir_lib.is_remote(directory):
    out = []
    for root, _, names in os.walk(directory):
      for name in names:
        rel = os.path.relpath(os.path.join(root, name), directory).replace(os.sep, "/")
        if rel != MANIFEST:
          out.append(rel)
    return sorted(out)
  out, stack = [], [("", workdir_lib.path(directory))]
  while stack:
    rel, p = stack.pop()
    for child in p.iterdir():
      crel = rel + child.name
      if child.is_dir():
        stack.append((crel + "/", child))
      elif crel != MANIFEST:
        out.append(crel)
  return sorted(out)


def _size(full: str) -> Optional[int]:
  """The size of file ``full`` in bytes (None when it is not there)."""
  if not workdir_lib.is_remote(full):
    return os.path.getsize(full) if os.path.isfile(full) else None
  p = workdir_lib.path(full)
  return int(p.stat().length) if p.exists() and not p.is_dir() else None


def seal(directory: str) -> None:
  """Writes ``directory/seqjax_manifest.json``: each file's size and SHA-256 (atomically: a
  renamed temporary file locally, one object write on object storage)."""
  files = {rel: [_size(_join(directory, rel)), sha256_file(_join(directory, rel))]
           for rel in _files(directory)}
  text = json.dumps({"version": 1, "files": files})
  if workdir_lib.is_remote(directory):
    workdir_lib.path(_join(directory, MANIFEST)).write_text(text)
    return
  tmp = os.path.join(directory, MANIFEST + ".tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(directory, MANIFEST))


def verify(directory: str) -> Optional[str]:
  """None when every file the manifest of checkpoint ``directory`` lists is there with its size
  and checksum; else why not, in a few words."""
  manifest = workdir_lib.path(_join(directory, MANIFEST))
  if not manifest.exists():
    return ("it has no checksum manifest (its save was interrupted before the seal, or an older "
            "seqjax wrote it)")
  try:
    files = json.loads(manifest.read_text())["files"]
  except (ValueError, KeyError, TypeError, UnicodeDecodeError):
    return f"its manifest {MANIFEST} is unreadable"
  for rel, (size, digest) in sorted(files.items()):
    full = _join(directory, rel)
    got = _size(full)
    if got is None:
      return f"file {rel} is missing"
    if got != size:
      return f"file {rel} has {got} bytes, {size} when saved"
    if sha256_file(full) != digest:
      return f"file {rel} fails its checksum (corrupted on disk)"
  return None


def _sync(name: str) -> None:
  """A barrier across the processes of a multi-process run (nothing with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def _path_name(path: Any) -> str:
  parts = []
  for k in path:
    for attr in ("key", "name", "idx"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
    else:
      parts.append(str(k))
  return "/".join(parts)


def _shapes(tree: Any) -> dict[str, tuple]:
  leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape"))[0]
  return {_path_name(p): tuple(getattr(v, "shape", ())) for p, v in leaves if v is not None}


def shape_difference(saved: Any, target: Any) -> Optional[str]:
  """The first array whose shape differs between a checkpoint's saved metadata tree and
  ``target`` (or that only one of them has), in one phrase, with how many more differ; ``None``
  when every shape matches."""
  if saved is None:
    return None
  a, b = _shapes(getattr(saved, "tree", saved)), _shapes(target)
  # parameters first: an optimizer slot of the same array says the same less clearly
  differ = sorted((k for k in set(a) | set(b) if a.get(k) != b.get(k)),
                  key=lambda k: (not k.startswith("params/"), k))
  if not differ:
    return None
  k = differ[0]
  if k not in a:
    first = f"{k} is in this config's model but not in the checkpoint"
  elif k not in b:
    first = f"{k} is in the checkpoint but not in this config's model"
  else:
    first = f"{k} has shape {a[k]} in the checkpoint but {b[k]} in this config's model"
  more = f" ({len(differ) - 1} more arrays differ)" if len(differ) > 1 else ""
  return first + more


class _Sealer:
  """Runs ``seal_fn`` on a thread now; ``join`` waits for it and raises what it raised."""

  def __init__(self, seal_fn: Callable[[], None]):
    self._error: Optional[BaseException] = None

    def run():
      try:
        seal_fn()
      except BaseException as e:  # pylint: disable=broad-except  # raised again in join
        self._error = e

    self._thread = threading.Thread(target=run, name="seqjax-seal", daemon=True)
    self._thread.start()

  def join(self) -> None:
    self._thread.join()
    if self._error is not None:
      raise self._error


class Checkpointer:
  """``workdir/checkpoints`` keeps the last ``keep`` steps; ``workdir/best`` the best one."""

  def __init__(self, workdir: str, keep: int = 3):
    self.local = workdir
    self.workdir = workdir_lib.checkpoint_root(workdir)  # a mirror's checkpoints are remote
    self.directory = _join(self.workdir, "checkpoints")
    # Each manager names its own multi-process barriers: both save the same step.
    # The items' handlers are named up front, so a manager can read a checkpoint's metadata
    # (array shapes) before any save or restore.
    handlers = lambda: {"state": ocp.StandardCheckpointHandler(),
                        "data": ocp.JsonCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
    self.last = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, multiprocessing_options=_barriers("last")),
        item_handlers=handlers())
    self.best = ocp.CheckpointManager(
        _join(self.workdir, "best"), options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, multiprocessing_options=_barriers("best")),
        item_handlers=handlers())

  def _manager(self, which: str) -> ocp.CheckpointManager:
    if which not in ("last", "best"):
      raise ValueError(f"which must be 'last' or 'best'; got {which!r}")
    return self.best if which == "best" else self.last

  def step_dir(self, step: int, which: str = "last") -> str:
    return _join(os.fspath(self._manager(which).directory), str(step))

  @staticmethod
  def _save_args(state: Any, data_state: dict, meta: dict) -> Any:
    return ocp.args.Composite(state=ocp.args.StandardSave(state),
                              data=ocp.args.JsonSave(data_state), meta=ocp.args.JsonSave(meta))

  def save(self, step: int, state: Any, data_state: dict, meta: dict, *, best: bool = False,
           wait: bool = False):
    """Saves ``step`` (also as the best when ``best``) asynchronously: the arrays are copied
    off the devices before this returns, and orbax writes them while training goes on. The
    checkpoint is sealed (``seal``) once written: in a one-process run by a thread that waits
    for the write, so a reader of the workdir (evaluation, ``predict``) can take it while the
    run goes on; in a multi-process run (whose seal ends in a barrier) before the next save, a
    restore, ``finish`` or ``close``; here with ``wait``. Until then it does not verify, so a
    run killed mid-write resumes from the previous sealed checkpoint, saying why."""
    self.finish()
    args = self._save_args(state, data_state, meta)
    self.last.save(step, args=args, force=True)
    if best:
      self.best.save(step, args=self._save_args(state, data_state, meta), force=True)
    self._pending = (step, best)
    if wait:
      self.finish()
    elif jax.process_count() == 1:
      self._sealer = _Sealer(lambda: self._seal(step, best))

  def _seal(self, step: int, best: bool) -> None:
    """Waits for the save of ``step`` to be written and seals it (the first process only)."""
    self.wait()
    if jax.process_index() == 0:
      seal(self.step_dir(step))
      if best:
        seal(self.step_dir(step, "best"))

  def finish(self) -> None:
    """Waits for a save in flight and seals it (a no-op when none is); an error of the
    sealing thread (a full disk) is raised here."""
    pending, self._pending = getattr(self, "_pending", None), None
    sealer, self._sealer = getattr(self, "_sealer", None), None
    if pending is None:
      return
    if sealer is not None:
      sealer.join()
    else:
      self._seal(*pending)
    if jax.process_index() == 0:
      workdir_lib.sync(self.local)  # a mirror's records follow its newest checkpoint
    _sync("seqjax_checkpoint_sealed")  # no process reads a checkpoint before its seal

  def wait(self) -> None:
    self.last.wait_until_finished()
    self.best.wait_until_finished()

  def reached_preemption(self, step: int) -> bool:
    """Whether the cluster announced a preemption (orbax's check: a SIGTERM seen by any
    process of a multi-process JAX run, synchronised across them)."""
    return bool(self.last.reached_preemption(step))

  def steps(self, which: str = "last") -> list[int]:
    """The steps saved under ``which``, newest first."""
    return sorted(self._manager(which).all_steps(), reverse=True)

  def latest_step(self, which: str = "last") -> Optional[int]:
    return self._manager(which).latest_step()

  def newest_verified(self, which: str = "last", log: Callable[[str], None] = print,
                      move_aside: bool = False) -> Optional[int]:
    """The newest step of ``which`` whose files verify, or None when there is no checkpoint.

    Each newer one that does not verify is named in one ``log`` line with the reason; with
    ``move_aside`` (a run about to resume) they are moved to ``workdir/corrupt/`` so the run
    can save those steps again, and best checkpoints newer than the step resumed are moved
    too. ``CheckpointError`` naming the workdir when checkpoints exist but none verifies
    (nothing is moved then).
    """
    self.finish()
    steps = self.steps(which)
    if not steps:
      return None
    skipped = []
    for step in steps:
      reason = verify(self.step_dir(step, which))
      if reason is None:
        break
      skipped.append(step)
      log(f"checkpoint {step} in {self._manager(which).directory} does not verify: {reason}; "
          "skipping it")
    else:
      raise CheckpointError(
          f"no checkpoint in {self._manager(which).directory} verifies ({len(steps)} tried: "
          f"{', '.join(map(str, steps))}); the workdir {self.workdir} cannot be resumed: move "
          "its checkpoints aside or use another --workdir")
    if move_aside and (skipped or which == "last"):
      ahead = [s for s in self.steps("best") if s > step] if which == "last" else []
      self._move_aside([(which, s) for s in skipped] + [("best", s) for s in ahead], log)
    return step

  def _move_aside(self, entries: list[tuple[str, int]], log: Callable[[str], None]) -> None:
    if not entries:
      return
    if jax.process_index() == 0:
      stamp = time.strftime("%Y%m%d-%H%M%S")
      target = _join(self.workdir, "corrupt")
      remote = workdir_lib.is_remote(target)
      if remote:
        workdir_lib.path(target).mkdir(parents=True, exist_ok=True)
      else:
        os.makedirs(target, exist_ok=True)
      for which, step in entries:
        dest = _join(target, f"{which}-{step}-{stamp}")
        if remote:  # object storage: copied object by object, then deleted
          workdir_lib.path(self.step_dir(step, which)).rename(dest)
        else:
          shutil.move(self.step_dir(step, which), dest)
        log(f"moved {which} checkpoint {step} aside to {dest}")
    _sync("seqjax_checkpoint_move_aside")
    self.last.reload()
    self.best.reload()

  def restore(self, target_state: Any, step: Optional[int] = None,
              which: str = "last", log: Callable[[str], None] = print
              ) -> tuple[Any, dict, dict]:
    """``(state, data_state, meta)`` of ``step`` (default: the newest that verifies);
    ``target_state`` gives structure, shapes and dtypes. The files are verified first (a
    newer checkpoint skipped on the way to the default step is named in a ``log`` line);
    ``CheckpointError`` (one line, naming the checkpoint) when they do not, or when the
    arrays do not fit ``target_state``."""
    self.finish()
    manager = self._manager(which)
    if step is None:
      step = self.newest_verified(which, log=log)
      if step is None:
        raise CheckpointError(f"no checkpoint in {manager.directory}")
    else:
      reason = verify(self.step_dir(step, which))
      if reason is not None:
        raise CheckpointError(f"checkpoint {step} in {manager.directory} does not verify: "
                              f"{reason}")
    args = ocp.args.Composite(state=ocp.args.StandardRestore(target_state),
                              data=ocp.args.JsonRestore(), meta=ocp.args.JsonRestore())
    # Shapes are compared from the saved metadata first: a restore that fails half-way leaves
    # orbax's reads pending, and they complain at exit.
    try:
      differs = shape_difference(manager.item_metadata(step)["state"], target_state)
    except Exception:  # pylint: disable=broad-except  (no metadata: the restore will tell)
      differs = None
    if differs:
      raise CheckpointError(f"checkpoint {step} in {manager.directory} verifies but does not fit "
                            f"the model this config builds: {differs}")
    try:
      restored = manager.restore(step, args=args)
    except Exception as e:  # pylint: disable=broad-except  (orbax/tensorstore raise many kinds)
      raise CheckpointError(f"checkpoint {step} in {manager.directory} verifies but does not fit "
                            f"the model this config builds: {first_line(e, with_type=True)}"
                            ) from e
    return restored.state, restored.data, restored.meta

  def read_meta(self, step: int, which: str = "last") -> dict:
    """The JSON metadata of checkpoint ``step`` (verified), without restoring arrays."""
    reason = verify(self.step_dir(step, which))
    if reason is not None:
      raise CheckpointError(f"checkpoint {step} in {self._manager(which).directory} does not "
                            f"verify: {reason}")
    manager = self._manager(which)
    return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

  def close(self) -> None:
    try:
      self.finish()
    finally:
      self.last.close()
      self.best.close()


def read_meta(workdir: str, which: str = "best", log: Callable[[str], None] = print
              ) -> tuple[int, dict]:
  """``(step, meta)``: the JSON metadata of the newest verified best (or last) checkpoint,
  without restoring arrays; ``FileNotFoundError`` naming the workdir when there is none."""
  ckpt = Checkpointer(workdir)
  try:
    step = ckpt.newest_verified(which, log=log)
    if step is None:
      raise FileNotFoundError(f"no {which} checkpoint under {ckpt.workdir}")
    return step, ckpt.read_meta(step, which)
  finally:
    ckpt.close()


def resume_point(workdir: str, log: Callable[[str], None] = print
                 ) -> tuple[Optional[int], Optional[dict]]:
  """``(step, meta)`` of the checkpoint a run in ``workdir`` resumes from: the newest that
  verifies (newer ones that do not are named and moved aside), or ``(None, None)`` for a new
  run. A resumed run takes its vocabulary from ``meta`` so the ids do not change."""
  if not workdir_lib.path(_join(workdir_lib.checkpoint_root(workdir), "checkpoints")).is_dir():
    return None, None
  ckpt = Checkpointer(workdir)
  try:
    step = ckpt.newest_verified("last", log=log, move_aside=True)
    return (None, None) if step is None else (step, ckpt.read_meta(step))
  finally:
    ckpt.close()
