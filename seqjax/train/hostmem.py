"""Host memory on CPU: keep XLA's large per-step buffers on the heap between steps.

XLA:CPU allocates a training step's temporaries (the recurrent back ends' saved gates and
workspaces, the activations and their gradients, the logits) as a few large blocks every step.
With glibc's defaults they are mapped fresh and returned to the system on every step, so every
step pays the page faults of touching them again, for two reasons:

- blocks over glibc's mmap threshold (at most 32 MiB by default) are mapped, not taken from the
  heap. ``tune_malloc`` raises the threshold to 1 GiB and the trim threshold to 2 GiB. Measured
  on the LSTM training step of ``benchmarks/rnn_speed.py`` (64·35·200·200, oneDNN back end) as
  about a quarter of the step;
- XLA runs the step on its pool threads, each with a malloc arena of its own, and an arena
  other than the main one cannot hold a block over 64 MiB whatever the threshold. Importing
  seqjax limits malloc to one arena where JAX will run on the CPU (``seqjax._malloc``, which
  says why it must happen before JAX's backend starts). Measured on PTB small's training step
  (``benchmarks/README.md``, "Page faults"): 19,200 page faults a step with the thresholds
  alone, none with one arena, and about 125 against 98 ms a step.

The process keeps its peak memory instead of returning it between steps, which a training loop
reaches every step anyway. Importing seqjax sets the thresholds too where JAX will run on the
CPU (``seqjax._malloc.keep_large_blocks``), so a training loop of the user's own gets them
without calling anything. The trainer calls ``tune_malloc`` once per process on the CPU backend
(``train_and_evaluate``), which also covers a process where import expected an accelerator and
JAX fell back to the CPU, and logs what is in effect; ``SEQJAX_TUNE_MALLOC=0`` keeps glibc's
defaults (both settings). Nothing is done where the C library is not glibc. The same effect
from outside: ``MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=1073741824
MALLOC_TRIM_THRESHOLD_=2147483647`` in the environment.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import jax

from seqjax import _malloc

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = _malloc.M_TRIM_THRESHOLD, _malloc.M_MMAP_THRESHOLD
MMAP_THRESHOLD, TRIM_THRESHOLD = _malloc.MMAP_THRESHOLD, _malloc.TRIM_THRESHOLD
_lock = threading.Lock()
_done: list[str] = []


def tune_malloc(log: Optional[Callable[[str], None]] = None) -> Optional[str]:
  """Applies the thresholds above once per process on the CPU backend; returns what is in
  effect, arenas included (``None``: nothing, and why is not an error: another backend,
  ``SEQJAX_TUNE_MALLOC=0``, not glibc, or already done)."""
  with _lock:
    if _done:
      return None
    _done.append("tried")
    if _malloc.disabled() or jax.default_backend() != "cpu":
      return None
    found = _malloc.glibc()
    if found is None:
      return None
    libc, version = found
    if not (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
      return None
    arenas = _malloc.arenas()
    if arenas is None:
      why = _malloc.accelerator()
      arenas = ("one arena per thread" + (f" ({why} at import)" if why else "") +
                ": XLA's blocks over 64 MiB are still mapped afresh every step; "
                "MALLOC_ARENA_MAX=1 in the environment avoids it")
    done = (f"host memory: glibc {version} keeps large blocks on the heap (mmap threshold 1 GiB, "
            f"trim threshold 2 GiB; {arenas}; SEQJAX_TUNE_MALLOC=0 keeps its defaults)")
    if log is not None:
      log(done)
    return done
