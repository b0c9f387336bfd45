"""Host memory on CPU: keep XLA's large per-step buffers on the heap between steps.

XLA:CPU allocates a training step's temporaries (the recurrent back ends' saved gates and
workspaces, the activations and their gradients) as a few large blocks every step. With glibc's
defaults, blocks over its mmap threshold (at most 32 MiB) are mapped fresh and returned to the
system on every step, so every step pays the page faults of touching them again: measured on
the LSTM training step of ``benchmarks/rnn_speed.py`` (64·35·200·200, oneDNN back end) as
about a quarter of the step. ``tune_malloc`` raises glibc's mmap threshold to 1 GiB and its
trim threshold to 2 GiB, so those blocks are reused from the heap: the process keeps its peak
memory instead of returning it between steps, which a training loop reaches every step anyway.

The trainer calls it once per process on the CPU backend (``train_and_evaluate``);
``SEQJAX_TUNE_MALLOC=0`` keeps glibc's defaults. It does nothing where the C library is not
glibc. The same effect from outside: ``MALLOC_MMAP_THRESHOLD_=1073741824
MALLOC_TRIM_THRESHOLD_=2147483647`` in the environment.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Callable, Optional

import jax

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 1 << 30
TRIM_THRESHOLD = 2**31 - 1
_lock = threading.Lock()
_done: list[str] = []


def tune_malloc(log: Optional[Callable[[str], None]] = None) -> Optional[str]:
  """Applies the settings above once per process on the CPU backend; returns what was done
  (``None``: nothing, and why is not an error: another backend, ``SEQJAX_TUNE_MALLOC=0``, not
  glibc, or already done)."""
  with _lock:
    if _done:
      return None
    _done.append("tried")
    if os.environ.get("SEQJAX_TUNE_MALLOC", "1").lower() in ("0", "false", "no", "off"):
      return None
    if jax.default_backend() != "cpu":
      return None
    try:
      libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
      libc.gnu_get_libc_version.restype = ctypes.c_char_p
      version = libc.gnu_get_libc_version().decode()
    except (OSError, AttributeError):
      return None
    if not (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
      return None
    done = (f"host memory: glibc {version} keeps large blocks on the heap (mmap threshold 1 GiB, "
            "trim threshold 2 GiB; SEQJAX_TUNE_MALLOC=0 keeps its defaults)")
    if log is not None:
      log(done)
    return done
