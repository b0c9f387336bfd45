"""glibc's malloc settings for XLA:CPU, with the standard library only.

``seqjax/__init__.py`` calls ``limit_arenas`` before it imports anything that starts JAX's
backend, because the setting only helps when it comes before XLA's thread pools allocate, and
``keep_large_blocks`` (the mmap and trim thresholds of ``seqjax.train.hostmem.tune_malloc``),
so that a training loop of the user's own, not only seqjax's trainer, reuses its blocks.

Why: XLA:CPU runs a step's thunks on its pool threads, and glibc gives each thread that
allocates an arena of its own. An arena other than the main one lives in heaps of at most
64 MiB, so a block larger than that (a step's temporaries: the logits of a 10,000-word softmax,
the recurrent back ends' saved gates) is always mapped fresh and returned to the system when
freed, whatever the mmap threshold. Every step then touches its largest buffers as new pages:
PTB small's training step took 19,200 page faults (75 MiB) a step, and its time fell from
about 125 to about 98 ms with one arena (``benchmarks/README.md``, "Page faults"). With one
arena every thread allocates from the main heap, where ``seqjax.train.hostmem.tune_malloc``'s
thresholds keep freed blocks for the next step.

Both are set only where JAX will run on the CPU: ``JAX_PLATFORMS`` names ``cpu`` first, or
no accelerator plugin is installed (a GPU or TPU step keeps its buffers on the device). It is
not set when ``SEQJAX_TUNE_MALLOC=0``, when ``MALLOC_ARENA_MAX`` is in the environment (the
user's own choice), or where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import sys
from typing import Optional

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8
MMAP_THRESHOLD = 1 << 30  # blocks under 1 GiB come from the heap, not a fresh mapping
TRIM_THRESHOLD = 2**31 - 1  # the heap's free top goes back to the system only past 2 GiB
THRESHOLD_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
ACCELERATOR_MODULES = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm6_plugin",
                       "jax_rocm7_plugin", "libtpu")

_state: dict[str, Optional[str]] = {}


def disabled() -> bool:
  """``SEQJAX_TUNE_MALLOC`` is 0 / false / no / off."""
  return os.environ.get("SEQJAX_TUNE_MALLOC", "1").lower() in ("0", "false", "no", "off")


def glibc() -> Optional[tuple[ctypes.CDLL, str]]:
  """``(libc, version)`` where the C library is glibc, else ``None``."""
  if not sys.platform.startswith("linux"):
    return None
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    return libc, libc.gnu_get_libc_version().decode()
  except (OSError, AttributeError):
    return None


def accelerator() -> Optional[str]:
  """Why JAX may run on an accelerator in this process (``None``: it will run on the CPU)."""
  platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
  if platforms:
    first = platforms.split(",")[0].strip()
    return None if first == "cpu" else f"JAX_PLATFORMS={platforms}"
  for name in ACCELERATOR_MODULES:
    try:
      if importlib.util.find_spec(name) is not None:
        return f"{name} is installed"
    except (ImportError, ValueError):
      continue
  return None


def limit_arenas() -> Optional[str]:
  """One malloc arena for the whole process, where JAX will run on the CPU (see the module's
  docstring); once per process. Returns why it was or was not set (``arenas()`` too)."""
  if "arenas" in _state:
    return _state["arenas"]
  reason: Optional[str]
  if disabled():
    reason = None
  elif "MALLOC_ARENA_MAX" in os.environ:
    reason = f"MALLOC_ARENA_MAX={os.environ['MALLOC_ARENA_MAX']} from the environment"
  elif accelerator() is not None:
    reason = None
  else:
    found = glibc()
    reason = None
    if found is not None and found[0].mallopt(M_ARENA_MAX, 1):
      reason = "one malloc arena"
  _state["arenas"] = reason
  return reason


def keep_large_blocks() -> Optional[str]:
  """glibc's mmap threshold raised to 1 GiB and its trim threshold to 2 GiB, where JAX will run
  on the CPU (the conditions of ``limit_arenas``); once per process. Without them a block over
  glibc's mmap threshold (at most 32 MiB) is mapped afresh and unmapped on every call: the
  oneDNN LSTM's training step at 64x35x200x200, whose forward keeps a 35.6 MB workspace, took
  about 6,400 page faults and 56-60 ms a step in a loop of the user's own, against none and
  42-45 ms with these thresholds (benchmarks/README.md, "A training loop of one's own").
  Returns what was set, or why nothing was (``None``: disabled, an accelerator expected, not
  glibc); the user's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (or either
  threshold in ``GLIBC_TUNABLES``) are left alone."""
  if "thresholds" in _state:
    return _state["thresholds"]
  reason: Optional[str] = None
  user = [name for name in THRESHOLD_VARIABLES if name in os.environ]
  tunables = os.environ.get("GLIBC_TUNABLES", "")
  if any(f"glibc.malloc.{t}_threshold" in tunables for t in ("mmap", "trim")):
    user.append("GLIBC_TUNABLES")
  if disabled() or accelerator() is not None:
    reason = None
  elif user:
    reason = f"{user[0]}={os.environ[user[0]]} from the environment"
  else:
    found = glibc()
    if (found is not None and found[0].mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and found[0].mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
      reason = "mmap threshold 1 GiB, trim threshold 2 GiB"
  _state["thresholds"] = reason
  return reason


def thresholds() -> Optional[str]:
  """What ``keep_large_blocks`` did (``None``: nothing, or not called)."""
  return _state.get("thresholds")


def arenas() -> Optional[str]:
  """What ``limit_arenas`` did: ``"one malloc arena"``, the user's ``MALLOC_ARENA_MAX``, or
  ``None`` (not set: disabled, an accelerator expected, not glibc, or not called)."""
  return _state.get("arenas")
