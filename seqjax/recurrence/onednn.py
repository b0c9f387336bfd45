"""The oneDNN back end (CPU): oneDNN's fused RNN primitives, called from jitted code via XLA's FFI.

PyTorch's CPU LSTM is oneDNN's RNN primitive; this back end hands seqjax's LSTM, reset-after
GRU and Elman RNN (tanh or ReLU) to the same primitives. One call runs one layer in one
direction over a whole batch; ``stack`` and ``bidirectional`` call it per layer and direction as
for every other back end. Training uses oneDNN's forward-training primitive (which fills a
workspace) and its backward primitive through a ``custom_vjp``; a call that is not
differentiated uses the forward-inference primitive.

What it covers (``unsupported`` names the rest, and ``Backend.AUTO`` then picks the fused scan):

- cells: LSTM without peepholes, coupling, projection or layer norm; GRU with
  ``reset_after=True`` (oneDNN's linear-before-reset GRU, the same equations); Elman RNN with
  ``activation="tanh"`` or ``"relu"``; float32 parameters and inputs;
- ``reverse`` (right to left), initial carries in and final carries out, any batch shape;
- ``lengths`` (ragged batches), by a correct fallback around oneDNN rather than oneDNN's own
  means (it has none): oneDNN runs the whole padded batch left to right (right to left, each
  sequence is first reversed within its length with a gather, so padding stays at the end);
  the outputs before a sequence's end are exact, the padded ones are zeroed, the final ``h`` is
  read off the outputs at each sequence's last step, and the LSTM's final ``c`` (which oneDNN
  returns only at step ``T``) is recomputed from those outputs with the cell's own step, which
  XLA drops when the final ``c`` is not used (``run``);
- ``vmap``: the FFI call runs once per mapped element (``vmap_method="sequential"``): correct,
  not faster than the fused scan;
- not: ``resets``, state dropout, zoneout, ``perturb``, ``remat``, ``compute_dtype``.

Weights stay in seqjax's layout (optimizers and checkpoints see one format); ``to_onednn`` /
``from_onednn`` convert to oneDNN's ``ldigo`` layout and gate order (the GRU's ``(r, z, n)``
becomes oneDNN's ``(u=z, r, o=n)``, ``b_hn`` its fourth bias), inside the jitted function.

The extension is C++ (``seqjax/kernels/onednn_rnn.cc``), built on first use against the oneDNN
of ``pip install -e ".[cpu-kernels]"`` (the ``onednn-cpu-gomp`` / ``onednn-devel-cpu-gomp``
wheels) or of ``$SEQJAX_ONEDNN_ROOT`` (a directory with ``include/`` and ``lib/``), with the
XLA FFI headers jaxlib ships, and cached in ``$SEQJAX_KERNEL_DIR`` (default
``~/.cache/seqjax/kernels``) under a hash of the source, jaxlib's version and the oneDNN
library. ``python -m seqjax.kernels`` builds it and says where it is, or why not.
``SEQJAX_ONEDNN=0`` keeps ``Backend.AUTO`` off it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import functools
import hashlib
import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parent.parent / "kernels" / "onednn_rnn.cc"
LSTM, GRU, RNN_TANH, RNN_RELU = 0, 1, 2, 3
GATES = {LSTM: 4, GRU: 3, RNN_TANH: 1, RNN_RELU: 1}
INSTALL_HINT = 'pip install -e ".[cpu-kernels]"'
_FWD, _BWD = "seqjax_onednn_rnn_fwd", "seqjax_onednn_rnn_bwd"


# ----------------------------------------------------------------------------- build and load


@dataclasses.dataclass(frozen=True)
class OneDNN:
  """Where a oneDNN installation's headers and shared library are."""
  include: Path
  lib: Path  # the directory holding libdnnl.so.3
  origin: str


def _from_wheels() -> Optional[OneDNN]:
  try:
    runtime = importlib.metadata.distribution("onednn-cpu-gomp")
    devel = importlib.metadata.distribution("onednn-devel-cpu-gomp")
  except importlib.metadata.PackageNotFoundError:
    return None
  lib = next((Path(runtime.locate_file(f)) for f in runtime.files or ()
              if f.name == "libdnnl.so.3"), None)
  header = next((Path(devel.locate_file(f)) for f in devel.files or ()
                 if f.as_posix().endswith("oneapi/dnnl/dnnl.hpp")), None)
  if lib is None or header is None or not lib.exists() or not header.exists():
    return None
  return OneDNN(include=header.parent.parent.parent, lib=lib.parent,
                origin=f"onednn-cpu-gomp {runtime.version}")


def find_onednn() -> tuple[Optional[OneDNN], str]:
  """The oneDNN to build against, or ``(None, why not)``."""
  root = os.environ.get("SEQJAX_ONEDNN_ROOT")
  if root:
    include, lib = Path(root) / "include", Path(root) / "lib"
    if (not (include / "oneapi" / "dnnl" / "dnnl.hpp").exists()
        or not (lib / "libdnnl.so.3").exists()):
      return None, (f"SEQJAX_ONEDNN_ROOT={root} has no include/oneapi/dnnl/dnnl.hpp and "
                    "lib/libdnnl.so.3")
    return OneDNN(include, lib, f"SEQJAX_ONEDNN_ROOT={root}"), ""
  found = _from_wheels()
  if found is None:
    return None, f"oneDNN is not installed ({INSTALL_HINT} installs it)"
  return found, ""


def kernel_dir() -> Path:
  return Path(os.environ.get("SEQJAX_KERNEL_DIR") or Path.home() / ".cache" / "seqjax" / "kernels")


def _fingerprint(onednn: OneDNN) -> str:
  h = hashlib.sha256(SOURCE.read_bytes())
  h.update(jax.ffi.include_dir().encode())
  h.update(importlib.metadata.version("jaxlib").encode())
  lib = (onednn.lib / "libdnnl.so.3").resolve()
  h.update(f"{lib}:{lib.stat().st_size}:{lib.stat().st_mtime_ns}".encode())
  return h.hexdigest()[:16]


def build(force: bool = False) -> Path:
  """Builds the extension (once per source/jaxlib/oneDNN; cached) and returns the ``.so``'s
  path. ``RuntimeError`` says why it cannot be built."""
  onednn, why = find_onednn()
  if onednn is None:
    raise RuntimeError(why)
  out_dir = kernel_dir()
  target = out_dir / f"libseqjax_onednn-{_fingerprint(onednn)}.so"
  if target.exists() and not force:
    return target
  compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
  if compiler is None:
    raise RuntimeError("no C++ compiler (g++ or $CXX) to build the oneDNN kernels")
  out_dir.mkdir(parents=True, exist_ok=True)
  with open(out_dir / ".build.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits, then finds the .so built
    if target.exists() and not force:
      return target
    log.info("building seqjax's oneDNN kernels against %s (once; cached in %s)",
             onednn.origin, out_dir)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
      tmp_so = Path(tmp) / target.name
      cmd = [compiler, "-O2", "-std=c++17", "-shared", "-fPIC", "-w", f"-I{onednn.include}",
             f"-I{jax.ffi.include_dir()}", str(SOURCE), f"-L{onednn.lib}", "-l:libdnnl.so.3",
             f"-Wl,-rpath,{onednn.lib}", "-o", str(tmp_so)]
      try:
        result = subprocess.run(cmd, capture_output=True, text=True)
      except OSError as e:
        raise RuntimeError(f"building the oneDNN kernels failed: {e}") from None
      if result.returncode != 0:
        lines = ([l for l in result.stderr.splitlines() if "error" in l]
                 or result.stderr.splitlines())
        raise RuntimeError(f"building the oneDNN kernels failed ({' '.join(cmd[:2])} ...): "
                           f"{lines[0] if lines else 'exit ' + str(result.returncode)}")
      Path(tmp, "sum").write_text(_sha256(tmp_so))
      os.replace(Path(tmp, "sum"), _sum_file(target))
      os.replace(tmp_so, target)
  return target


def _sha256(path: Path) -> str:
  return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _sum_file(so: Path) -> Path:
  return so.with_name(so.name + ".sha256")


def _verified(so: Path) -> Optional[str]:
  """Why the cached ``so`` must not be loaded (``None``: it is the file that was built).
  ``dlopen`` of a truncated library can kill the process (SIGBUS), so it is checked first."""
  try:
    want = _sum_file(so).read_text().strip()
  except OSError:
    return "its checksum file is missing"
  if _sha256(so) == want:
    return None
  return "it does not match the checksum recorded when it was built"


_lock = threading.Lock()
_state: dict[str, Any] = {}


def library() -> tuple[Optional[ctypes.CDLL], str]:
  """The loaded extension with its FFI targets registered, or ``(None, why not)``; tried once
  per process. When oneDNN is installed but the extension cannot be built or loaded, that is
  logged once as a warning (``Backend.AUTO`` then runs the fused scan)."""
  with _lock:
    if "lib" not in _state:
      _state["lib"], _state["why"] = _load()
      if _state["lib"] is None and find_onednn()[0] is not None:
        log.warning("seqjax: the oneDNN back end is installed but cannot run (%s); "
                    "backend='auto' uses the fused scan", _state["why"])
    return _state["lib"], _state["why"]


def _load() -> tuple[Optional[ctypes.CDLL], str]:
  try:
    path = build()
    damaged = _verified(path)
    if damaged:  # a damaged cache entry (truncated, overwritten): build it again
      log.warning("seqjax: the cached oneDNN kernels %s are damaged (%s); building them again",
                  path, damaged)
      path = build(force=True)
      damaged = _verified(path)
      if damaged:
        raise RuntimeError(f"the rebuilt oneDNN kernels {path} do not verify: {damaged}")
    lib = ctypes.CDLL(str(path))
  except (RuntimeError, OSError) as e:
    return None, str(e)
  lib.seqjax_onednn_rnn_workspace_bytes.restype = ctypes.c_int64
  lib.seqjax_onednn_rnn_workspace_bytes.argtypes = [ctypes.c_int64] * 6
  lib.seqjax_onednn_version.restype = ctypes.c_char_p
  jax.ffi.register_ffi_target(_FWD, jax.ffi.pycapsule(lib.SeqjaxOnednnRnnFwd), platform="cpu")
  jax.ffi.register_ffi_target(_BWD, jax.ffi.pycapsule(lib.SeqjaxOnednnRnnBwd), platform="cpu")
  _state["path"] = path
  return lib, ""


def unavailable_reason() -> Optional[str]:
  """Why the back end cannot run in this process (``None``: it can)."""
  if jax.default_backend() != "cpu":
    return f"it runs on the CPU; the default JAX backend here is {jax.default_backend()!r}"
  lib, why = library()
  return None if lib is not None else why


def available() -> bool:
  return unavailable_reason() is None


def auto_enabled() -> bool:
  """Whether ``Backend.AUTO`` may pick this back end (``SEQJAX_ONEDNN=0`` says no)."""
  return os.environ.get("SEQJAX_ONEDNN", "1") not in ("0", "false", "no", "off")


def version() -> str:
  lib, why = library()
  if lib is None:
    raise RuntimeError(why)
  return lib.seqjax_onednn_version().decode()


# ------------------------------------------------------------------------------ weight layout


def lstm_kind(params: Any) -> int:
  del params
  return LSTM


def gru_kind(params: Any) -> int:
  del params
  return GRU


def rnn_kind(params: Any) -> int:
  return RNN_TANH if params.activation == "tanh" else RNN_RELU


def _gru_order(w: jax.Array) -> jax.Array:
  """``(r, z, n)`` column blocks <-> ``(z, r, n)``; its own inverse."""
  r, z, n = jnp.split(w, 3, axis=-1)
  return jnp.concatenate([z, r, n], axis=-1)


def to_onednn(params: Any, kind: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(w_layer [I, G·H], w_iter [H, G·H], bias [G_b·H])`` in oneDNN's ``ldigo`` / ``ldgo``
  layout and gate order, from seqjax parameters of primitive ``kind``.

  >>> import jax
  >>> from seqjax.cells import gru
  >>> w_layer, w_iter, bias = to_onednn(gru.init(jax.random.PRNGKey(0), 3, 2), GRU)
  >>> w_layer.shape, w_iter.shape, bias.shape  # gates (z, r, n); b_hn is the fourth bias
  ((3, 6), (2, 6), (8,))
  """
  if kind == GRU:
    return (_gru_order(params.w_ih), _gru_order(params.w_hh),
            jnp.concatenate([_gru_order(params.b), params.b_hn]))
  return params.w_ih, params.w_hh, params.b


def from_onednn(like: Any, kind: int, w_layer: jax.Array, w_iter: jax.Array,
                bias: jax.Array) -> Any:
  """The inverse of ``to_onednn``: parameters shaped like ``like`` holding these weights."""
  if kind == GRU:
    H = w_iter.shape[0]
    return dataclasses.replace(like, w_ih=_gru_order(w_layer), w_hh=_gru_order(w_iter),
                               b=_gru_order(bias[:3 * H]), b_hn=bias[3 * H:])
  return dataclasses.replace(like, w_ih=w_layer, w_hh=w_iter, b=bias)


def lstm_unsupported(params: Any) -> Optional[str]:
  extras = [name for name, on in (
      ("peepholes", params.p_i is not None or params.p_f is not None or params.p_o is not None),
      ("coupled gates", params.coupled), ("a projection", params.w_hr is not None),
      ("layer norm", params.ln_x is not None or params.ln_h is not None
       or params.ln_c_scale is not None)) if on]
  if extras:
    return f"oneDNN's LSTM has no {' or '.join(extras)}"
  return _float32(params)


def gru_unsupported(params: Any) -> Optional[str]:
  if not params.reset_after:
    return "oneDNN's GRU is the reset-after form (reset_after=True), not Cho et al.'s"
  return _float32(params)


def rnn_unsupported(params: Any) -> Optional[str]:
  if params.activation not in ("tanh", "relu"):
    return f"oneDNN's RNN has no activation {params.activation!r}"
  return _float32(params)


# Where ``backend="auto"`` takes oneDNN (``Kernel.worthwhile``): below these sizes the fused
# scan (the plain scan for the Elman RNN) trained faster. Measured with
# ``benchmarks/onednn_crossover.py`` (forward + backward, both in one process;
# benchmarks/README.md, "Small batches") on a 2-core Xeon with AVX-512, where the primitives pay
# a fixed cost per time step (OpenMP fork and join on work of a few microseconds) that the fused
# path does not. On a 2-core AMD EPYC (AVX2 only) the same sweep, once every primitive ran on
# the extension's one thread (commit b5cb596), had the LSTM faster on oneDNN in every cell from
# 4 sequences; its GRU cells scattered around 1 (0.44-1.58, five of the ten inside this rule
# below 1), while benchmarks/rnn_speed.py's three GRU shapes ran 1.2-1.5x faster on oneDNN.
def lstm_worthwhile(batch: int, hidden: int) -> bool:
  """oneDNN's LSTM for ``batch >= 8``, or ``>= 4`` at ``hidden >= 256``."""
  return batch >= 8 or (batch >= 4 and hidden >= 256)


def gru_worthwhile(batch: int, hidden: int) -> bool:
  """oneDNN's GRU for ``batch >= 32``, or ``>= 16`` at ``hidden >= 512``."""
  return batch >= 32 or (batch >= 16 and hidden >= 512)


def rnn_worthwhile(batch: int, hidden: int) -> bool:
  """oneDNN's Elman RNN for ``hidden >= 256`` (at 128 units XLA's scan trained faster)."""
  del batch
  return hidden >= 256


def _float32(params: Any) -> Optional[str]:
  dtypes = {str(a.dtype) for a in jax.tree.leaves(params)}
  return None if dtypes == {"float32"} else f"oneDNN runs float32 parameters; got {sorted(dtypes)}"


# --------------------------------------------------------------------------------- the calls


def _library() -> ctypes.CDLL:
  lib, why = library()
  if lib is None:
    raise ValueError(f"backend='onednn' cannot run: {why}")
  return lib


def _workspace_bytes(kind: int, reverse: bool, T: int, N: int, I: int, H: int) -> int:
  lib = _library()
  size = lib.seqjax_onednn_rnn_workspace_bytes(kind, int(reverse), T, N, I, H)
  if size < 0:
    raise ValueError(f"oneDNN has no primitive for kind {kind} at T={T}, N={N}, I={I}, H={H}")
  return max(int(size), 1)


def _forward(kind, reverse, training, x, h0, c0, wl, wi, b):
  _library()  # registers the FFI targets
  T, N, I = x.shape
  H = wi.shape[0]
  ws = _workspace_bytes(kind, reverse, T, N, I, H) if training else 1
  f32 = lambda shape: jax.ShapeDtypeStruct(shape, jnp.float32)
  call = jax.ffi.ffi_call(_FWD, (f32((T, N, H)), f32((N, H)), f32((N, H)),
                                 jax.ShapeDtypeStruct((ws,), jnp.uint8)),
                          vmap_method="sequential")
  return call(x, h0, c0, wl, wi, b, kind=np.int64(kind), reverse=bool(reverse),
              training=bool(training))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def rnn(kind: int, reverse: bool, x, h0, c0, w_layer, w_iter, bias):
  """One layer, one direction: ``x [T, N, I]``, ``h0, c0 [N, H]`` (``c0`` ignored and ``cT``
  zeros except for the LSTM), oneDNN-layout weights -> ``(y [T, N, H], hT, cT)``."""
  y, hT, cT, _ = _forward(kind, reverse, False, x, h0, c0, w_layer, w_iter, bias)
  return y, hT, cT


def _rnn_fwd(kind, reverse, x, h0, c0, wl, wi, b):
  y, hT, cT, ws = _forward(kind, reverse, True, x, h0, c0, wl, wi, b)
  return (y, hT, cT), (x, h0, c0, wl, wi, b, y, hT, cT, ws)


def _rnn_bwd(kind, reverse, res, grads):
  x, h0, c0, wl, wi, b, y, hT, cT, ws = res
  dy, dhT, dcT = grads
  outs = tuple(jax.ShapeDtypeStruct(a.shape, jnp.float32) for a in (x, h0, c0, wl, wi, b))
  call = jax.ffi.ffi_call(_BWD, outs, vmap_method="sequential")
  return call(x, h0, c0, wl, wi, b, y, hT, cT, ws, dy, dhT, dcT, kind=np.int64(kind),
              reverse=bool(reverse))


rnn.defvjp(_rnn_fwd, _rnn_bwd)


def _reverse_within(xs: jax.Array, lengths: jax.Array) -> jax.Array:
  """``xs [T, N, F]`` with each sequence's first ``lengths[n]`` steps reversed in place (the
  padding stays at the end); its own inverse."""
  T = xs.shape[0]
  t = jnp.arange(T)[:, None]
  idx = jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # [T, N]
  return jnp.take_along_axis(xs, idx[:, :, None], axis=0)


def _lstm_cell_states(params: Any, x: jax.Array, y: jax.Array, h0: jax.Array,
                      c0: jax.Array) -> jax.Array:
  """The LSTM's cell states ``c_t [T, N, H]`` along a trajectory whose outputs ``y`` oneDNN
  computed: the cell's own ``project`` and ``step`` (``seqjax.cells.lstm``), fed ``h_{t-1}``
  from ``y`` and its own ``c_{t-1}``. An identity along the trajectory, so its gradient is the
  true one; XLA drops it when the final ``c`` is not used."""
  from seqjax.cells import lstm  # pylint: disable=g-import-not-at-top  (cells import this module)
  h_prev = jnp.concatenate([h0[None], y[:-1]], axis=0)

  def step(c, inputs):
    projected_t, h_t = inputs
    c = lstm.step(params, lstm.LSTMCarry(h=h_t, c=c), projected_t)[0].c
    return c, c

  return jax.lax.scan(step, c0, (lstm.project(params, x), h_prev))[1]


def run(kind_of: Any, params: Any, xs: jax.Array, carry: Any, *, reverse: bool = False,
        lengths: Optional[jax.Array] = None) -> tuple[jax.Array, Any]:
  """``Kernel.run`` of the oneDNN back end (``run_lstm``, ``run_gru``, ``run_rnn`` bind
  ``kind_of``, which reads the primitive off the parameters): ``xs [T, *B, I]`` (raw inputs,
  time-major) -> ``(ys [T, *B, H], final carry)``. Padded steps of ``ys`` are zeros.

  With ``lengths`` (ragged batches) oneDNN runs every sequence over all ``T`` steps, left to
  right (right to left: each sequence is first reversed within its length, so its padding
  stays at the end); the steps after a sequence's end do not touch its earlier outputs, which
  are exact. Its final ``h`` is its output at its last step (its initial ``h`` at length 0);
  the LSTM's final ``c`` is recomputed from the outputs (``_lstm_cell_states``).
  """
  kind = kind_of(params)
  T, batch = xs.shape[0], xs.shape[1:-1]
  N = int(np.prod(batch, dtype=np.int64))
  H = params.w_hh.shape[0]
  x = xs.reshape(T, N, xs.shape[-1]).astype(jnp.float32)
  h0 = carry.h.reshape(N, H)
  c0 = carry.c.reshape(N, H) if kind == LSTM else jnp.zeros((N, H), jnp.float32)
  wl, wi, b = to_onednn(params, kind)
  if lengths is None:
    y, hT, cT = rnn(kind, reverse, x, h0, c0, wl, wi, b)
  else:
    lens = jnp.clip(lengths.reshape(N).astype(jnp.int32), 0, T)
    if reverse:
      x = _reverse_within(x, lens)
    y, _, _ = rnn(kind, False, x, h0, c0, wl, wi, b)
    last = jnp.maximum(lens - 1, 0)[None, :, None]
    ended = (lens > 0)[:, None]
    hT = jnp.where(ended, jnp.take_along_axis(y, last, axis=0)[0], h0)
    if kind == LSTM:
      cs = _lstm_cell_states(params, x, y, h0, c0)
      cT = jnp.where(ended, jnp.take_along_axis(cs, last, axis=0)[0], c0)
    if reverse:
      y = _reverse_within(y, lens)
    valid = jnp.arange(T)[:, None] < lens[None, :]
    y = jnp.where(valid[:, :, None], y, 0.0)
  ys = y.reshape((T,) + tuple(batch) + (H,))
  hT = hT.reshape(tuple(batch) + (H,))
  final = (carry._replace(h=hT, c=cT.reshape(tuple(batch) + (H,))) if kind == LSTM
           else carry._replace(h=hT))
  return ys, final


run_lstm = functools.partial(run, lstm_kind)
run_gru = functools.partial(run, gru_kind)
run_rnn = functools.partial(run, rnn_kind)


def main(argv: list[str]) -> int:
  """``python -m seqjax.recurrence.onednn``: build the extension and report."""
  del argv
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  onednn, why = find_onednn()
  if onednn is None:
    print(f"error: {why}", file=sys.stderr)
    return 2
  try:
    path = build()
  except RuntimeError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  why = unavailable_reason()
  if why:
    print(f"error: built {path} but it cannot run: {why}", file=sys.stderr)
    return 2
  print(f"oneDNN {version()} from {onednn.origin}\nextension: {path}\n"
        "backend='onednn' is available; backend='auto' picks it where the options allow")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
