"""``seqjax.train.hostmem``: after ``tune_malloc`` a large freed block stays with the process
(reused by the next step) instead of going back to the system; ``SEQJAX_TUNE_MALLOC=0`` keeps
glibc's defaults. Each case runs in a fresh process, since the settings are process-wide."""

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
