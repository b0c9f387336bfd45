"""``seqjax.train.hostmem``: after ``tune_malloc`` a large freed block stays with the process
(reused by the next step) instead of going back to the system; ``SEQJAX_TUNE_MALLOC=0`` keeps
glibc's defaults. Importing seqjax limits malloc to one arena where JAX runs on the CPU, so a
block over 64 MiB that XLA allocates on a pool thread is reused too (counted in page faults),
and leaves the arenas alone where an accelerator is expected or the user set
``MALLOC_ARENA_MAX``. Each case runs in a fresh process, since the settings are process-wide."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = """
import ctypes, json
from seqjax.train import hostmem
done = hostmem.tune_malloc()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
page = 4096
def rss_mb():
  return int(open("/proc/self/statm").read().split()[1]) * page / 2**20
before = rss_mb()
p = libc.malloc(200 << 20)
ctypes.memset(p, 1, 200 << 20)
touched = rss_mb()
libc.free(p)
print(json.dumps({"done": done, "held_mb": rss_mb() - before, "touched_mb": touched - before,
                  "again": hostmem.tune_malloc()}))
"""


def _run(**env):
  out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "JAX_PLATFORMS": "cpu", **env}, timeout=120)
  assert out.returncode == 0, out.stderr
  import json  # pylint: disable=g-import-not-at-top
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc on Linux")
def test_a_freed_large_block_stays_only_when_tuned():
  tuned = _run()
  assert tuned["done"].startswith("host memory: glibc") and tuned["again"] is None
  assert tuned["touched_mb"] > 190 and tuned["held_mb"] > 190  # kept for the next step
  default = _run(SEQJAX_TUNE_MALLOC="0")
  assert default["done"] is None
  assert default["touched_mb"] > 190 and default["held_mb"] < 20  # unmapped on free


# Minor page faults count fresh pages: a block reused from the heap costs none, one mapped
# afresh costs all its pages. Two measurements in a fresh process:
# - ``thread``: a new thread (which gets an arena of its own unless there is one arena)
#   allocates, writes and frees 96 MiB five times; an arena other than the main one holds at
#   most 64 MiB, so only with one arena is the block reused;
# - ``jit``: a jitted function whose temporary (exp(x) * x, kept for the reduction: XLA:CPU
#   does not fuse a producer into a reduction) is 64 MiB, called 30 times; the last 25 count.
ARENA_SCRIPT = """
import ctypes, json, resource, threading
import seqjax  # limits malloc to one arena here, before JAX's backend starts
from seqjax import _malloc
from seqjax.train import hostmem
import jax, jax.numpy as jnp
done = hostmem.tune_malloc()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 96 << 20
thread = []
own_arena = []
def rounds():
  # glibc's chunk header: bit 2 of the size word (NON_MAIN_ARENA) is set when the chunk
  # belongs to a thread arena. Where the arena limit is already reached, glibc hands a new
  # thread an existing arena, possibly the main one.
  q = libc.malloc(1024)
  own_arena.append(bool(ctypes.c_size_t.from_address(q - 8).value & 4))
  libc.free(q)
  for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
    thread.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
t = threading.Thread(target=rounds)
t.start()
t.join()
x = jnp.full((8192, 2048), 0.5, jnp.float32)
f = jax.jit(lambda x: jnp.max(jnp.exp(x) * x, axis=1) + jnp.sum(jnp.sin(x), axis=1))
jit = []
for call in range(30):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  f(x).block_until_ready()
  jit.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"done": done, "arenas": _malloc.arenas(), "thread": thread[1:],
                  "own_arena": own_arena[0],
                  "jit": jit[5:], "pages": {"thread": size // 4096,
                                            "jit": 8192 * 2048 * 4 // 4096}}))
"""


def _arena_run(**env):
  full = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
  out = subprocess.run([sys.executable, "-c", ARENA_SCRIPT], capture_output=True, text=True,
                       cwd=REPO, env={**full, "JAX_PLATFORMS": "cpu", **env}, timeout=300)
  assert out.returncode == 0, out.stderr
  import json  # pylint: disable=g-import-not-at-top
  r = json.loads(out.stdout.strip().splitlines()[-1])
  for k in ("thread", "jit"):  # calls that touched at least half the block's pages afresh
    r[f"{k}_faulting"] = sum(f > r["pages"][k] // 2 for f in r[k])
  return r


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc on Linux")
def test_one_arena_keeps_a_block_over_64_mib_for_the_next_step():
  tuned = _arena_run()
  assert tuned["arenas"] == "one malloc arena" and "one malloc arena" in tuned["done"]
  assert not tuned["own_arena"]  # one arena: the thread shares the main one
  assert tuned["thread_faulting"] == 0, tuned["thread"]
  # Heap fragmentation makes a few calls grow the heap again (at most 4 of 25 were seen).
  assert tuned["jit_faulting"] < len(tuned["jit"]) // 2, tuned["jit"]
  # The thresholds alone, with the user's own arena limit: the new thread's arena cannot
  # hold the block, so it is mapped afresh every time; the log says why. The limit is well
  # above the process's thread count: at a limit of 8, JAX's threads sometimes used up the
  # arenas first and the new thread was handed the main one (which keeps the block).
  user = _arena_run(MALLOC_ARENA_MAX="64")
  assert user["arenas"] == "MALLOC_ARENA_MAX=64 from the environment"
  assert "MALLOC_ARENA_MAX=64 from the environment" in user["done"]
  assert user["own_arena"], "the new thread was handed the main arena"
  assert user["thread_faulting"] == len(user["thread"]), user["thread"]
  off = _arena_run(SEQJAX_TUNE_MALLOC="0")
  assert off["done"] is None and off["arenas"] is None
  assert off["thread_faulting"] == len(off["thread"]), off["thread"]
  assert off["jit_faulting"] >= 0.8 * len(off["jit"]), off["jit"]


def test_no_arena_limit_where_jax_may_run_on_an_accelerator(monkeypatch):
  from seqjax import _malloc  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(_malloc, "_state", {})
  monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
  monkeypatch.delenv("SEQJAX_TUNE_MALLOC", raising=False)
  monkeypatch.setattr(_malloc, "glibc", lambda: pytest.fail("mallopt must not be reached"))
  monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
  assert _malloc.accelerator() == "JAX_PLATFORMS=cuda,cpu"
  assert _malloc.limit_arenas() is None and _malloc.arenas() is None
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  assert _malloc.accelerator() is None
  monkeypatch.delenv("JAX_PLATFORMS")
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec",
                      lambda name, *a: object() if name == "jax_cuda12_plugin" else real(name, *a))
  assert _malloc.accelerator() == "jax_cuda12_plugin is installed"
  monkeypatch.setattr(_malloc, "_state", {})
  assert _malloc.limit_arenas() is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc on Linux")
def test_a_cpu_run_without_the_arena_limit_says_so_and_how_to_get_it(monkeypatch):
  """An accelerator plugin installed, but JAX fell back to the CPU: the limit was not set at
  import, and the trainer's log line must say so rather than look like the tuned case."""
  from seqjax import _malloc  # pylint: disable=g-import-not-at-top
  from seqjax.train import hostmem  # pylint: disable=g-import-not-at-top
  monkeypatch.delenv("SEQJAX_TUNE_MALLOC", raising=False)
  monkeypatch.setattr(hostmem, "_done", [])
  monkeypatch.setattr(_malloc, "_state", {"arenas": None})
  monkeypatch.setattr(_malloc, "accelerator", lambda: "jax_cuda12_plugin is installed")
  done = hostmem.tune_malloc()  # the same thresholds as the trainer sets: harmless here
  assert "one arena per thread (jax_cuda12_plugin is installed at import): XLA's blocks over " \
         "64 MiB are still mapped afresh every step; MALLOC_ARENA_MAX=1 in the environment " \
         "avoids it" in done


# Importing seqjax alone, no ``tune_malloc``: a loop of the user's own. ``jit`` is the 64 MiB
# temporary above; ``lstm`` the oneDNN LSTM's training step (its forward's workspace is
# 35.6 MB, over glibc's largest default mmap threshold), where the extension is built.
IMPORT_SCRIPT = """
import json, resource
import seqjax
from seqjax import _malloc
import jax, jax.numpy as jnp
from seqjax.cells import lstm
from seqjax.recurrence import onednn, unroll

def faults(f, arg, calls=25, warm=3):
  out = []
  for call in range(warm + calls):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    jax.block_until_ready(f(*arg))
    out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
  return out[warm:]

x = jnp.full((8192, 2048), 0.5, jnp.float32)
jit = faults(jax.jit(lambda x: jnp.max(jnp.exp(x) * x, axis=1) + jnp.sum(jnp.sin(x), axis=1)),
             (x,))
steps = None
if onednn.available():
  p = lstm.CELL.init(jax.random.PRNGKey(0), 200, 200)
  xs = jax.random.normal(jax.random.PRNGKey(1), (64, 35, 200))
  step = jax.jit(jax.grad(lambda p, x: jnp.sum(unroll(lstm.CELL, p, x, backend="onednn")[0])))
  steps = faults(step, (p, xs), calls=10)
print(json.dumps({"thresholds": _malloc.thresholds(), "jit": jit, "lstm": steps,
                  "pages": 8192 * 2048 * 4 // 4096}))
"""


def _import_run(**env):
  full = {k: v for k, v in os.environ.items()
          if k not in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                       "GLIBC_TUNABLES")}
  out = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], capture_output=True, text=True,
                       cwd=REPO, env={**full, "JAX_PLATFORMS": "cpu", **env}, timeout=300)
  assert out.returncode == 0, out.stderr
  import json  # pylint: disable=g-import-not-at-top
  r = json.loads(out.stdout.strip().splitlines()[-1])
  r["jit_faulting"] = sum(f > r["pages"] // 2 for f in r["jit"])
  return r


@pytest.mark.slow  # ~25 s: four fresh processes, each timing the oneDNN LSTM step
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc on Linux")
def test_importing_seqjax_keeps_large_blocks_for_a_loop_of_one_s_own():
  mine = _import_run()
  assert mine["thresholds"] == "mmap threshold 1 GiB, trim threshold 2 GiB"
  assert mine["jit_faulting"] < len(mine["jit"]) // 2, mine["jit"]
  off = _import_run(SEQJAX_TUNE_MALLOC="0")
  assert off["thresholds"] is None
  assert off["jit_faulting"] >= 0.8 * len(off["jit"]), off["jit"]
  if mine["lstm"] is not None:  # 35.6 MB of workspace: ~8,700 pages if mapped afresh
    assert sorted(mine["lstm"])[len(mine["lstm"]) // 2] < 1000, mine["lstm"]
    assert min(off["lstm"]) > 4000, off["lstm"]
  # The user's own threshold in the environment is theirs: seqjax sets neither.
  user = _import_run(MALLOC_MMAP_THRESHOLD_="65536")
  assert user["thresholds"] == "MALLOC_MMAP_THRESHOLD_=65536 from the environment"
  assert user["jit_faulting"] >= 0.8 * len(user["jit"]), user["jit"]
  tuned = _import_run(GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536")
  assert tuned["thresholds"] == ("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536 from the "
                                 "environment")
  assert tuned["jit_faulting"] >= 0.8 * len(tuned["jit"]), tuned["jit"]
