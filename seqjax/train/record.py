"""What a workdir records about how it was made, beside ``config.json``: one entry per start of
the run in ``run.json`` (time, command line, git commit, package versions, devices), and at the
end the hyperparameters and final scores in TensorBoard and ``curves.png``."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from typing import Any, Callable, Optional

PACKAGES = ("seqjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy",
            "tensorflow-datasets", "grain", "ml-collections")


def git_state(directory: str) -> Optional[dict[str, Any]]:
  """``{"commit", "dirty"}`` of the git checkout holding ``directory``; ``None`` outside one
  (or without git)."""
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                            text=True, timeout=10)
    if commit.returncode != 0:
      return None
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                            cwd=directory, capture_output=True, text=True, timeout=10)
  except (OSError, subprocess.SubprocessError):
    return None
  return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def versions() -> dict[str, Optional[str]]:
  out = {}
  for name in PACKAGES:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def devices() -> dict[str, Any]:
  import jax  # pylint: disable=g-import-not-at-top
  local = jax.local_devices()
  return {"platform": jax.default_backend(), "kind": local[0].device_kind if local else None,
          "count": jax.device_count(), "local_count": jax.local_device_count(),
          "process_count": jax.process_count()}


def start_entry(step: int) -> dict[str, Any]:
  """The record of one start of a run, at ``step``."""
  import seqjax  # pylint: disable=g-import-not-at-top
  return {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "from_step": int(step), "argv": list(sys.argv), "cwd": os.getcwd(),
          "host": socket.gethostname(), "python": platform.python_version(),
          "git": git_state(os.path.dirname(os.path.abspath(seqjax.__file__))),
          "packages": versions(), "devices": devices()}


def record_start(workdir: str, step: int) -> dict[str, Any]:
  """Appends this start to ``workdir/run.json`` (a list, oldest first; a file that does not
  parse is kept aside as ``run.json.bad`` and a new list begun) and returns the entry."""
  path = os.path.join(workdir, "run.json")
  starts: list = []
  if os.path.exists(path):
    try:
      with open(path, encoding="utf-8") as f:
        starts = json.load(f)
      if not isinstance(starts, list):
        raise ValueError("not a list")
    except ValueError:
      os.replace(path, path + ".bad")
      starts = []
  entry = start_entry(step)
  starts.append(entry)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(starts, f, indent=1)
  os.replace(path + ".tmp", path)
  return entry


def _scalars(tree: Any, prefix: str = "") -> dict[str, float]:
  out = {}
  if isinstance(tree, dict):
    for k, v in tree.items():
      out.update(_scalars(v, f"{prefix}{k}/"))
  elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
    out[prefix[:-1]] = float(tree)
  return out


def _hparams(config: Any) -> dict[str, Any]:
  """The config's leaves as TensorBoard hyperparameters (numbers, strings and bools as they
  are, anything else as text)."""
  from seqjax.train import config as config_lib  # pylint: disable=g-import-not-at-top
  return {k: v if isinstance(v, (bool, int, float, str)) else str(v)
          for k, v in config_lib.leaves(config).items()}


def write_final(workdir: str, config: Any, result: dict[str, Any], *, step: int,
                curves: tuple[str, ...] = ("loss",),
                log: Callable[[str], None] = print) -> None:
  """The end of a run: the final scores (every number of ``result``'s split sections) as
  ``final/...`` scalars and the config as TensorBoard hyperparameters with them; and
  ``workdir/curves.png`` of the training and evaluation curves of ``curves``."""
  finals = {}
  for split, scores in result.items():
    if isinstance(scores, dict):
      finals.update({f"final/{split}/{k}": v for k, v in _scalars(scores).items()})
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  with SummaryWriter(os.path.join(workdir, "tensorboard")) as tb:
    for k, v in finals.items():
      tb.add_scalar(k, v, step)
    if finals:
      tb.add_hparams(_hparams(config), finals, name="hparams", global_step=step)
  from seqjax import diagnostics  # pylint: disable=g-import-not-at-top
  from seqjax.train.writer import read_metrics  # pylint: disable=g-import-not-at-top
  rows = read_metrics(workdir) if os.path.exists(os.path.join(workdir, "metrics.jsonl")) else []
  present = [m for m in curves if any(m in r for r in rows)]
  if present:
    diagnostics.plot_training_curves(workdir, os.path.join(workdir, "curves.png"),
                                     metrics=tuple(dict.fromkeys(present)))
