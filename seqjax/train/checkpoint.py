"""Orbax checkpoints: the last ``keep`` and the best, each with the data position and metadata.

A checkpoint holds the ``TrainState`` (params, optimizer state, step, RNG key, carry), the data
iterator's position (JSON) and metadata (JSON: the vocabulary, the config), so that a killed run
resumes to the same numbers and evaluation/sampling use the same ids.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import orbax.checkpoint as ocp


def _barriers(prefix: str) -> ocp.options.MultiprocessingOptions:
  return ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=prefix)


class Checkpointer:
  """``workdir/checkpoints`` keeps the last ``keep`` steps; ``workdir/best`` the best one."""

  def __init__(self, workdir: str, keep: int = 3):
    workdir = os.path.abspath(workdir)
    self.directory = os.path.join(workdir, "checkpoints")
    # Each manager names its own multi-process barriers: both save the same step.
    self.last = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, multiprocessing_options=_barriers("last")))
    self.best = ocp.CheckpointManager(
        os.path.join(workdir, "best"), options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, multiprocessing_options=_barriers("best")))

  @staticmethod
  def _save_args(state: Any, data_state: dict, meta: dict) -> Any:
    return ocp.args.Composite(state=ocp.args.StandardSave(state),
                              data=ocp.args.JsonSave(data_state), meta=ocp.args.JsonSave(meta))

  def save(self, step: int, state: Any, data_state: dict, meta: dict, *, best: bool = False):
    args = self._save_args(state, data_state, meta)
    self.last.save(step, args=args, force=True)
    if best:
      self.best.save(step, args=self._save_args(state, data_state, meta), force=True)
    self.wait()

  def wait(self) -> None:
    self.last.wait_until_finished()
    self.best.wait_until_finished()

  def latest_step(self, which: str = "last") -> Optional[int]:
    return (self.best if which == "best" else self.last).latest_step()

  def restore(self, target_state: Any, step: Optional[int] = None,
              which: str = "last") -> tuple[Any, dict, dict]:
    """``(state, data_state, meta)``; ``target_state`` gives structure, shapes and dtypes."""
    manager = self.best if which == "best" else self.last
    step = manager.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {manager.directory}")
    args = ocp.args.Composite(state=ocp.args.StandardRestore(target_state),
                              data=ocp.args.JsonRestore(), meta=ocp.args.JsonRestore())
    restored = manager.restore(step, args=args)
    return restored.state, restored.data, restored.meta

  def close(self) -> None:
    self.last.close()
    self.best.close()


def read_meta(workdir: str, which: str = "best") -> dict:
  """The JSON metadata of the best (or last) checkpoint, without restoring arrays."""
  ckpt = Checkpointer(workdir)
  manager = ckpt.best if which == "best" else ckpt.last
  step = manager.latest_step()
  if step is None:
    raise FileNotFoundError(f"no {which} checkpoint under {os.path.abspath(workdir)}")
  meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
  ckpt.close()
  return meta


def resume_meta(workdir: str) -> Optional[dict]:
  """The metadata of the last checkpoint when ``workdir`` holds one (a run to resume), else
  None; a resumed run takes its vocabulary from here so the ids do not change."""
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    return None
  ckpt = Checkpointer(workdir)
  step = ckpt.latest_step()
  ckpt.close()
  return None if step is None else read_meta(workdir, which="last")
