"""seqjax vs PyTorch vs Flax: LSTM/GRU training and inference throughput, interleaved.

    python -m benchmarks.rnn_speed                  # every case, 5 rounds (~10 min on 2 cores)
    python -m benchmarks.rnn_speed --only lstm-train --rounds 3
    python -m benchmarks.rnn_speed --check          # numerical agreement only
    python -m benchmarks.rnn_speed --device gpu     # the GPU cases (benchmarks/gpu_check.py)

The method is ``../shared/bench``'s (its README explains it): one worker process per framework
(``--worker jax`` / ``--worker torch``), driven over JSON lines so that only one computes at a
time; each item is compiled and warmed up, then timed in batches of at least ``--batch_seconds``
(0.3 s; ``--ptb_batch_seconds``, 2 s, for the PTB cases, whose steps take over 0.1 s); in each of
``--rounds`` rounds every implementation of a case is timed in a freshly shuffled order; the
reported time is the median over rounds of each round's median, and ratios are computed per
round then their median taken (min-max in brackets).

Cases (single layer, float32, batch-major, zero initial state): training step = forward,
``sum(outputs)``, gradients of all parameters; inference = forward only. Implementations:

- ``torch``: ``torch.nn.LSTM`` / ``torch.nn.GRU`` (CPU wheel, 2 threads).
- ``seqjax``: ``seqjax.recurrence.unroll`` as the library runs it (``backend="auto"``: oneDNN's
  RNN primitives (``seqjax.recurrence.onednn``) where ``.[cpu-kernels]`` is installed, else the
  fused kernel of ``seqjax.recurrence.fused``); the setup line says which.
- ``seqjax-fused``: ``backend="fused"`` (the hand-written backward over XLA's ops).
- ``seqjax-onednn`` (CPU): ``backend="onednn"`` whatever ``auto`` would choose (skipped, with
  the reason, where ``.[cpu-kernels]`` is not built).
- ``seqjax-scan``: the same with ``backend="scan"`` (autodiff through ``lax.scan``).
- ``seqjax-bf16``: ``compute_dtype=bfloat16`` (bf16 matmul operands, float32 accumulation).
- ``flax``: ``flax.linen.RNN(OptimizedLSTMCell)`` / ``RNN(GRUCell)``.
- ``ptb-small`` (end to end): one SGD step of Zaremba et al.'s small PTB model (2x200 LSTM,
  vocabulary 10,000, batch 20 x 35, clip 5) in seqjax (``experiments/lm/task.py`` through ``seqjax.train.trainer``) and the same model
  in PyTorch; words/s.

The JAX worker imports seqjax (one malloc arena, ``seqjax._malloc``) and applies
``seqjax.train.hostmem.tune_malloc`` first, as seqjax's trainer does on the CPU
(``SEQJAX_TUNE_MALLOC=0`` in the environment turns both off); PyTorch runs with glibc's
defaults unless ``--malloc_tuned`` gives both workers ``../shared/bench``'s settings. Each row
gives the cores busy (``cpu``) and the minor page faults per step (``faults``: memory mapped
afresh every step), medians over the rounds.

``--device gpu`` (``GPU_CASES``): the two GPU shapes (B·T·H 64·35·650 and 128·100·1024,
I = H) for training and inference, the three CPU shapes for training, and PTB small and medium
end to end; besides the implementations above, ``seqjax-cudnn`` (LSTM: the cuDNN kernel through
``DeepRNN(backend="cudnn")``'s ``lstm_stack``) and ``torch-bf16`` (``torch.autocast``), with
PyTorch on the GPU (cuDNN). ``--tiny`` shrinks every shape (a dry run that checks the driver,
not the speed). An implementation that cannot run here (cuDNN without a GPU) is listed as
skipped with the reason, and one that fails is reported with its error; neither stops the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import traceback

CASES = {  # name -> (cell, mode, (B, T, I, H))
    "lstm-train-64x35x200x200": ("lstm", "train", (64, 35, 200, 200)),
    "lstm-train-32x100x256x512": ("lstm", "train", (32, 100, 256, 512)),
    "lstm-train-16x200x512x1024": ("lstm", "train", (16, 200, 512, 1024)),
    "lstm-infer-1x200x512x512": ("lstm", "infer", (1, 200, 512, 512)),
    "gru-train-64x35x200x200": ("gru", "train", (64, 35, 200, 200)),
    "gru-train-32x100x256x512": ("gru", "train", (32, 100, 256, 512)),
    "gru-train-16x200x512x1024": ("gru", "train", (16, 200, 512, 1024)),
    "gru-infer-1x200x512x512": ("gru", "infer", (1, 200, 512, 512)),
    "ptb-small-train": ("lstm", "ptb", (20, 35, 200, 200)),
}
GPU_CASES = {  # in the order they run: the targets' cases first (see --budget_s)
    "lstm-train-64x35x650x650": ("lstm", "train", (64, 35, 650, 650)),
    "gru-train-64x35x650x650": ("gru", "train", (64, 35, 650, 650)),
    "lstm-train-128x100x1024x1024": ("lstm", "train", (128, 100, 1024, 1024)),
    "gru-train-128x100x1024x1024": ("gru", "train", (128, 100, 1024, 1024)),
    "lstm-infer-64x35x650x650": ("lstm", "infer", (64, 35, 650, 650)),
    "gru-infer-64x35x650x650": ("gru", "infer", (64, 35, 650, 650)),
    "lstm-infer-128x100x1024x1024": ("lstm", "infer", (128, 100, 1024, 1024)),
    "gru-infer-128x100x1024x1024": ("gru", "infer", (128, 100, 1024, 1024)),
    "ptb-small-train": ("lstm", "ptb", (20, 35, 200, 200)),
    "ptb-medium-train": ("lstm", "ptb", (20, 35, 650, 650)),
    **{k: v for k, v in CASES.items() if v[1] == "train"},
}
TINY = (4, 5, 8, 8)  # --tiny: every case at this B·T·I·H (PTB: vocabulary TINY_VOCAB)
TINY_VOCAB = 50
PTB_VOCAB = 10000
TORCH_THREADS = 2


class Skip(Exception):
  """An implementation that cannot run here; the message says why."""


def cases(device: str = "cpu", tiny: bool = False) -> dict:
  """Case name -> (cell, mode, (B, T, I, H)) for ``device``; ``tiny`` shrinks every shape."""
  table = GPU_CASES if device == "gpu" else CASES
  return {k: (cell, mode, TINY if tiny else shape) for k, (cell, mode, shape) in table.items()}
# ../shared/bench's MALLOC_TUNED settings: glibc keeps freed memory and backs malloc with huge
# pages, so the buffers of every step stop page-faulting (both frameworks gain).
MALLOC_TUNED = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736",
                "MALLOC_TOP_PAD_": "268435456", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


# ------------------------------------------------------------------ the worker protocol


def time_batch(fn, n):
  """Runs ``fn()`` ``n`` times; per-iteration wall times, CPU use (cores busy) and minor page
  faults per iteration (fresh pages touched: memory mapped anew every step)."""
  f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  c0, w0 = time.process_time(), time.perf_counter()
  times = []
  for _ in range(n):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  cpu = (time.process_time() - c0) / max(time.perf_counter() - w0, 1e-12)
  faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / n
  return {"times": times, "cpu": cpu, "faults": faults}


def serve(builders):
  """Answers ``setup`` / ``time`` / ``check`` / ``quit`` commands on stdin (one JSON line each)
  on the original stdout; library output goes to stderr."""
  out = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)
  sys.stdout = sys.stderr
  fns = {}
  for line in sys.stdin:
    msg = json.loads(line)
    try:
      if msg["cmd"] == "items":
        reply = {"items": sorted(builders)}
      elif msg["cmd"] == "setup":
        t0 = time.perf_counter()
        fns[msg["id"]] = builders[msg["id"]]()
        fns[msg["id"]]()
        first = time.perf_counter() - t0
        reply = {"first": first, "warm": time_batch(fns[msg["id"]], 2),
                 "backend": getattr(fns[msg["id"]], "backend", "")}
      elif msg["cmd"] == "time":
        reply = time_batch(fns[msg["id"]], msg["n"])
      elif msg["cmd"] == "free":
        fns.pop(msg["id"], None)
        reply = {}
      elif msg["cmd"] == "quit":
        out.write(json.dumps({"ok": True}) + "\n")
        return
      else:
        raise ValueError(f"unknown command {msg['cmd']!r}")
      reply["ok"] = True
    except Skip as e:
      reply = {"ok": False, "skip": str(e)}
    except Exception as e:  # pylint: disable=broad-except
      reply = {"ok": False, "error": f"{type(e).__name__}: {e}", "tb": traceback.format_exc()}
    out.write(json.dumps(reply) + "\n")


# -------------------------------------------------------------------------- JAX worker


def _inputs(shape, seed=0):
  import numpy as np  # pylint: disable=g-import-not-at-top
  b, t, i, _ = shape
  return np.random.default_rng(seed).standard_normal((b, t, i), dtype=np.float32)


def jax_builders(device: str = "cpu", tiny: bool = False):
  import flax.linen as fnn  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from seqjax.cells import gru, lstm  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import (UnrollOptions, choose_backend, cudnn,  # pylint: disable=g-import-not-at-top
                                 onednn, unroll)
  vocab = TINY_VOCAB if tiny else PTB_VOCAB
  if device == "gpu" and not tiny and jax.default_backend() != "gpu":
    raise RuntimeError(f"--device gpu: JAX's backend is {jax.default_backend()!r}, not a GPU")

  def block(tree):
    jax.block_until_ready(tree)

  def seqjax_item(cell_name, mode, shape, **kw):
    def build():
      if kw.get("backend") == "onednn" and not onednn.available():
        raise Skip(f"the oneDNN back end is not built: {onednn.unavailable_reason()}")
      cell = lstm.CELL if cell_name == "lstm" else gru.CELL
      params = cell.init(jax.random.PRNGKey(0), shape[2], shape[3])
      x = jnp.asarray(_inputs(shape))
      if mode == "train":
        f = jax.jit(jax.grad(lambda p, x: jnp.sum(unroll(cell, p, x, **kw)[0])))
      else:
        f = jax.jit(lambda p, x: unroll(cell, p, x, **kw)[0])
      fn = lambda: block(f(params, x))
      fn.backend = choose_backend(cell, params, UnrollOptions(**kw), batch_size=shape[0]).value
      fn.hlo = lambda: f.lower(params, x).compile().as_text()  # for benchmarks.step_profile
      return fn
    return build

  def cudnn_item(mode, shape):
    def build():
      if not cudnn.available():
        raise Skip(f"the cuDNN kernel needs a GPU backend (JAX's is {jax.default_backend()!r})")
      params = [lstm.CELL.init(jax.random.PRNGKey(0), shape[2], shape[3])]
      x = jnp.asarray(_inputs(shape))
      if mode == "train":
        f = jax.jit(jax.grad(lambda p, x: jnp.sum(cudnn.lstm_stack(p, x)[0])))
      else:
        f = jax.jit(lambda p, x: cudnn.lstm_stack(p, x)[0])
      return lambda: block(f(params, x))
    return build

  def flax_item(cell_name, mode, shape):
    def build():
      h = shape[3]
      cell = fnn.OptimizedLSTMCell(h) if cell_name == "lstm" else fnn.GRUCell(h)
      model = fnn.RNN(cell)
      x = jnp.asarray(_inputs(shape))
      params = model.init(jax.random.PRNGKey(0), x)
      if mode == "train":
        f = jax.jit(jax.grad(lambda p, x: jnp.sum(model.apply(p, x))))
      else:
        f = jax.jit(model.apply)
      return lambda: block(f(params, x))
    return build

  def ptb_item(shape, **kw):
    hidden = shape[3]

    def build():
      if kw.get("backend") == "onednn" and not onednn.available():
        raise Skip(f"the oneDNN back end is not built: {onednn.unavailable_reason()}")
      if kw.get("backend") == "cudnn" and not cudnn.available():
        raise Skip(f"the cuDNN kernel needs a GPU backend (JAX's is {jax.default_backend()!r})")
      import ml_collections  # pylint: disable=g-import-not-at-top
      import numpy as np  # pylint: disable=g-import-not-at-top
      from seqjax.nn.lm import RNNLM, initial_carry  # pylint: disable=g-import-not-at-top
      from experiments.lm.task import TASK  # pylint: disable=g-import-not-at-top
      from seqjax.train import optim, trainer  # pylint: disable=g-import-not-at-top
      from seqjax.train.state import TrainState  # pylint: disable=g-import-not-at-top
      from seqjax.nn.rnn import RNNSpec  # pylint: disable=g-import-not-at-top
      model = RNNLM(vocab_size=vocab, embed_size=hidden,
                    rnn=RNNSpec(hidden_size=hidden, num_layers=2, init_scale=0.1, **kw))
      opt_cfg = ml_collections.ConfigDict(dict(
          name="sgd", learning_rate=1.0, momentum=0.0, weight_decay=0.0, clip_norm=5.0,
          schedule="constant", decay=0.5, decay_after=4, warmup_steps=0, total_steps=0))
      optimizer = optim.make_optimizer(opt_cfg, 1000)
      b, t = shape[0], shape[1]
      tokens = jnp.zeros((b, t), jnp.int32)
      params = model.init(jax.random.PRNGKey(0), tokens)["params"]
      state = TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                         opt_state=optimizer.init(params), key=jax.random.PRNGKey(1),
                         carry=initial_carry(model, params, b))
      config = ml_collections.ConfigDict(dict(
          train=dict(loss_reduction="sum_time_mean_batch"), optimizer=opt_cfg))
      step = jax.jit(trainer.make_train_step(TASK, model, optimizer, config), donate_argnums=0)
      rng = np.random.default_rng(0)
      batch = {"inputs": jnp.asarray(rng.integers(0, vocab, (b, t)), jnp.int32),
               "targets": jnp.asarray(rng.integers(0, vocab, (b, t)), jnp.int32),
               "mask": jnp.ones((b, t)), "reset": jnp.asarray(False)}
      holder = [state]

      def fn():
        holder[0], metrics = step(holder[0], batch)
        block(metrics)
      fn.hlo = lambda: step.lower(holder[0], batch).compile().as_text()
      return fn
    return build

  items = {}
  for case, (cell, mode, shape) in cases(device, tiny).items():
    if mode == "ptb":
      items[f"{case}:seqjax"] = ptb_item(shape)
      items[f"{case}:seqjax-fused"] = ptb_item(shape, backend="fused")
      items[f"{case}:seqjax-scan"] = ptb_item(shape, backend="scan")
      if device == "gpu":
        items[f"{case}:seqjax-cudnn"] = ptb_item(shape, backend="cudnn")
      else:
        items[f"{case}:seqjax-onednn"] = ptb_item(shape, backend="onednn")
      continue
    items[f"{case}:seqjax"] = seqjax_item(cell, mode, shape)
    items[f"{case}:seqjax-fused"] = seqjax_item(cell, mode, shape, backend="fused")
    items[f"{case}:seqjax-scan"] = seqjax_item(cell, mode, shape, backend="scan")
    items[f"{case}:seqjax-bf16"] = seqjax_item(cell, mode, shape,
                                               compute_dtype=jnp.bfloat16)
    if device == "gpu":
      if cell == "lstm":
        items[f"{case}:seqjax-cudnn"] = cudnn_item(mode, shape)
    else:
      items[f"{case}:seqjax-onednn"] = seqjax_item(cell, mode, shape, backend="onednn")
      items[f"{case}:flax"] = flax_item(cell, mode, shape)
  return items


# ------------------------------------------------------------------------ torch worker


def torch_builders(device: str = "cpu", tiny: bool = False):
  import contextlib  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(TORCH_THREADS)
  dev = torch.device("cuda" if device == "gpu" else "cpu")
  vocab = TINY_VOCAB if tiny else PTB_VOCAB

  def sync():
    if dev.type == "cuda":
      torch.cuda.synchronize()

  def precision(bf16):
    if not bf16:
      return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)

  def no_cuda():
    if dev.type == "cuda" and not torch.cuda.is_available():
      if tiny:  # a dry run on a CPU machine
        raise Skip("torch sees no CUDA device")
      raise RuntimeError("--device gpu: torch sees no CUDA device")

  def rnn_item(cell, mode, shape, bf16=False):
    def build():
      no_cuda()
      torch.manual_seed(0)
      cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
      m = cls(shape[2], shape[3], batch_first=True).to(dev)
      x = torch.from_numpy(_inputs(shape)).to(dev)
      params = list(m.parameters())
      if mode == "train":
        def fn():
          for p in params:
            p.grad = None
          with precision(bf16):
            out, _ = m(x)
          out.float().sum().backward()
          sync()
      else:
        def fn():
          with torch.inference_mode(), precision(bf16):
            m(x)
          sync()
      return fn
    return build

  def ptb_item(shape):
    b, t, _, hidden = shape

    def build():
      no_cuda()
      torch.manual_seed(0)

      class LM(torch.nn.Module):
        def __init__(self):
          super().__init__()
          self.embed = torch.nn.Embedding(vocab, hidden)
          self.rnn = torch.nn.LSTM(hidden, hidden, num_layers=2, batch_first=True)
          self.out = torch.nn.Linear(hidden, vocab)
          for p in self.parameters():
            torch.nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, x, state):
          y, state = self.rnn(self.embed(x), state)
          return self.out(y), state

      model = LM().to(dev)
      opt = torch.optim.SGD(model.parameters(), lr=1.0)
      rng = np.random.default_rng(0)
      x = torch.from_numpy(rng.integers(0, vocab, (b, t))).to(dev)
      y = torch.from_numpy(rng.integers(0, vocab, (b, t))).to(dev)
      state = [(torch.zeros(2, b, hidden, device=dev), torch.zeros(2, b, hidden, device=dev))]
      loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")

      def fn():
        opt.zero_grad(set_to_none=True)
        logits, new = model(x, state[0])
        loss = loss_fn(logits.reshape(-1, vocab), y.reshape(-1)) / b
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        state[0] = tuple(s.detach() for s in new)
        sync()
      return fn
    return build

  items = {}
  for case, (cell, mode, shape) in cases(device, tiny).items():
    items[f"{case}:torch"] = ptb_item(shape) if mode == "ptb" else rnn_item(cell, mode, shape)
    if device == "gpu" and mode != "ptb":
      items[f"{case}:torch-bf16"] = rnn_item(cell, mode, shape, bf16=True)
  return items


def check():
  """seqjax (onednn where built, fused and scan) against torch.nn.LSTM / GRU on the same weights: outputs and the
  gradients of sum(outputs) w.r.t. W_ih, W_hh and the bias. Returns the worst relative error."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from seqjax.interop import torch as interop  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import unroll  # pylint: disable=g-import-not-at-top
  rel = lambda a, b: float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-12))
  worst = 0.0
  for cell_name, shape in (("lstm", (4, 9, 16, 32)), ("gru", (4, 9, 16, 32)),
                           ("lstm", (64, 35, 200, 200)), ("gru", (64, 35, 200, 200))):
    torch.manual_seed(0)
    m = (torch.nn.LSTM if cell_name == "lstm" else torch.nn.GRU)(shape[2], shape[3],
                                                                 batch_first=True)
    x = _inputs(shape)
    out, _ = m(torch.from_numpy(x))
    out.sum().backward()
    spec = interop.spec_of(m)
    params = interop.convert_state_dict(m.state_dict(), spec)[0]
    want = {"y": out.detach().numpy(), "w_ih": m.weight_ih_l0.grad.numpy().T,
            "w_hh": m.weight_hh_l0.grad.numpy().T, "b": m.bias_ih_l0.grad.numpy()}
    from seqjax.recurrence import onednn  # pylint: disable=g-import-not-at-top
    for backend in ("onednn", "fused", "scan"):
      if backend == "onednn" and not onednn.available():
        print(f"backend=onednn skipped: {onednn.unavailable_reason()}")
        continue
      def loss(p):
        ys = unroll(spec.cell, p, jnp.asarray(x), backend=backend)[0]
        return jnp.sum(ys), ys
      (_, ys), g = jax.value_and_grad(loss, has_aux=True)(params)
      errs = {"y": rel(ys, want["y"]), "w_ih": rel(g.w_ih, want["w_ih"]),
              "w_hh": rel(g.w_hh, want["w_hh"]), "b": rel(g.b, want["b"])}
      worst = max(worst, *errs.values())
      print(f"{cell_name} {shape} backend={backend}: " +
            "  ".join(f"{k} {v:.1e}" for k, v in errs.items()), flush=True)
  return worst


def loop_kernels(hlo_text):
  """Per while-loop body of an optimized HLO module: kernels per iteration and how many are
  GEMMs (``dot`` / custom calls) or dynamic-update-slices (stacked residuals)."""
  import re  # pylint: disable=g-import-not-at-top
  from benchmarks import hlo  # pylint: disable=g-import-not-at-top
  skip = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast"}
  comps, _ = hlo.computations(hlo_text)
  out = []
  for instrs in list(comps.values()):
    for _, op, rhs in instrs:
      b = re.search(r"body=%?([\w.\-]+)", rhs) if op == "while" else None
      if b:
        kernels = [k for k in comps.get(b.group(1), []) if k[1] not in skip]
        gemms = [k for k in kernels if k[1] in ("dot", "custom-call") or "dot" in k[0]
                 or "kind=kCustom" in k[2]]
        dus = [k for k in kernels if "dynamic-update-slice" in k[0]]
        out.append((len(kernels), len(gemms), len(dus)))
  return out


def hlo_report(shape=(64, 35, 200, 200)):
  """Kernels per iteration of each scan loop in the jitted training steps."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from seqjax.cells import gru, lstm  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import unroll  # pylint: disable=g-import-not-at-top
  x = jnp.asarray(_inputs(shape))
  for name, cell in (("lstm", lstm.CELL), ("gru", gru.CELL)):
    params = cell.init(jax.random.PRNGKey(0), shape[2], shape[3])
    for label, kw in (("seqjax-fused", {"backend": "fused"}), ("seqjax-scan", {"backend": "scan"})):
      f = jax.jit(jax.grad(lambda p, x: jnp.sum(unroll(cell, p, x, **kw)[0])))
      stats = loop_kernels(f.lower(params, x).compile().as_text())
      print(f"{name} train {label:15s}: " + " | ".join(
          f"loop {j}: {k} kernels/iter ({g} GEMM, {d} dynamic-update-slice)"
          for j, (k, g, d) in enumerate(stats)))


# ------------------------------------------------------------------------------ driver


class ItemFailed(RuntimeError):
  """An implementation was skipped (``skip``: why it cannot run here) or failed."""

  def __init__(self, message, skip=""):
    super().__init__(message)
    self.skip = skip


class Worker:
  def __init__(self, kind, log, env=None, device="cpu", tiny=False):
    self.kind = kind
    argv = [sys.executable, "-m", "benchmarks.rnn_speed", "--worker", kind, "--device", device]
    self.proc = subprocess.Popen(argv + (["--tiny"] if tiny else []),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=log, text=True, bufsize=1, env=env,
                                 cwd=os.path.dirname(os.path.dirname(os.path.abspath(
                                     __file__))))

  def call(self, **msg):
    self.proc.stdin.write(json.dumps(msg) + "\n")
    self.proc.stdin.flush()
    line = self.proc.stdout.readline()
    if not line:
      raise RuntimeError(f"the {self.kind} worker died (see its log)")
    reply = json.loads(line)
    if not reply.get("ok"):
      if reply.get("skip"):
        raise ItemFailed(reply["skip"], skip=reply["skip"])
      raise ItemFailed(f"{self.kind}: {reply.get('error')}\n{reply.get('tb', '')}")
    return reply


def batch_iterations(mode: str, warm_s: float, batch_seconds: float,
                     ptb_batch_seconds: float) -> int:
  """Calls per timed batch: enough to last ``batch_seconds`` (``ptb_batch_seconds`` for the
  PTB cases) at the warm call's time ``warm_s``, between 1 and 50."""
  seconds = ptb_batch_seconds if mode == "ptb" else batch_seconds
  return max(1, min(50, int(seconds / max(warm_s, 1e-6)) + 1))


def drive(args):
  """Times every case of ``args.device`` (see the module docstring), one case at a time: its
  implementations are set up, timed in ``args.rounds`` freshly shuffled rounds, reported and
  freed before the next case starts, and ``args.json`` is rewritten after each, so a run cut
  short keeps what it measured. With ``args.budget_s`` no case starts after that many seconds
  (those are rows with ``skipped``). Skipped and failed implementations are rows too, with
  ``skipped`` / ``error`` and no timing. Returns the rows."""
  start = time.time()
  log = open(args.log, "w") if args.log else subprocess.DEVNULL
  env = {**os.environ, **(MALLOC_TUNED if args.malloc_tuned else {})}
  if args.device == "gpu":
    # Both frameworks share the GPU: JAX takes memory as it needs it, as PyTorch does.
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
  else:
    env["JAX_PLATFORMS"] = "cpu"
  # PyTorch keeps glibc's defaults (or MALLOC_TUNED's): importing seqjax there, were it to
  # happen, must not give it seqjax's single malloc arena.
  workers = {k: Worker(k, log, env if k == "jax" else {**env, "SEQJAX_TUNE_MALLOC": "0"},
                       args.device, args.tiny) for k in ("jax", "torch")}
  items = []
  for kind, w in workers.items():
    items += [(kind, i) for i in w.call(cmd="items")["items"]]
  table = cases(args.device, args.tiny)
  chosen = [c for c in table if not args.only or any(o in c for o in args.only.split(","))]
  rows = []
  print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; device {args.device}"
        f"{' (tiny shapes: a dry run)' if args.tiny else ''}; {os.cpu_count()} CPUs; rounds "
        f"{args.rounds}; malloc tuned: {args.malloc_tuned}", flush=True)

  def save():
    if args.json:
      with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)

  for case in chosen:
    cell, mode, shape = table[case]
    here = [(k, i) for k, i in items if i.split(":")[0] == case]
    if args.budget_s and time.time() - start > args.budget_s:
      for _, item in here:
        rows.append({"case": case, "impl": item.split(":")[1],
                     "skipped": f"not run: the {args.budget_s:.0f} s budget was spent"})
      print(f"  {case}: not run (budget)", flush=True)
      save()
      continue
    n_iter, results, timed = {}, {}, []
    for kind, item in here:
      try:
        r = workers[kind].call(cmd="setup", id=item)
      except ItemFailed as e:
        what = "skipped" if e.skip else "error"
        rows.append({"case": case, "impl": item.split(":")[1], what: str(e).splitlines()[0]})
        print(f"  {what} {item}: {str(e).splitlines()[0]}", flush=True)
        if not e.skip:
          print(str(e), file=sys.stderr)
        continue
      timed.append((kind, item))
      warm = statistics.median(r["warm"]["times"])
      n_iter[item] = batch_iterations(mode, warm, args.batch_seconds, args.ptb_batch_seconds)
      print(f"  setup {item:<45} first call {r['first']:6.2f}s  warm {warm * 1e3:9.2f} ms "
            f"-> {n_iter[item]} iters{'  backend=' + r['backend'] if r.get('backend') else ''}",
            flush=True)
    for rnd in range(args.rounds):
      order = timed[:]
      random.Random(rnd * 1000 + len(case)).shuffle(order)
      for kind, item in order:
        r = workers[kind].call(cmd="time", id=item, n=n_iter[item])
        results.setdefault(item, []).append((statistics.median(r["times"]), r["cpu"],
                                             r["faults"]))
        time.sleep(0.02)
    for kind, item in timed:
      workers[kind].call(cmd="free", id=item)
    tokens = shape[0] * shape[1]
    ref = f"{case}:torch"
    print(f"\n{case}: {tokens} tokens per step, {args.rounds} rounds")
    print(f"  {'implementation':<14} {'ms/step':>9} {'spread':>7} {'tok/s':>10} "
          f"{'x torch (min-max)':>20} {'cpu':>5} {'faults':>7}")
    flax_item = f"{case}:flax"
    for _, item in sorted(timed, key=lambda ki: statistics.median(
        t for t, _, _ in results[ki[1]])):
      times = [t for t, _, _ in results[item]]
      med = statistics.median(times)
      spread = (max(times) - min(times)) / med
      ratios = ([a / b for (a, _, _), (b, _, _) in zip(results[ref], results[item])]
                if ref in results else [float("nan")])
      cpu = statistics.median(c for _, c, _ in results[item])
      faults = statistics.median(f for _, _, f in results[item])
      line = (f"  {item.split(':')[1]:<14} {med * 1e3:9.2f} {spread:6.1%} {tokens / med:10,.0f} "
              f"{statistics.median(ratios):7.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
              f"{cpu:5.2f} {faults:7.0f}")
      if flax_item in results and item.split(":")[1].startswith("seqjax"):
        fr = [a / b for (a, _, _), (b, _, _) in zip(results[flax_item], results[item])]
        line += f"  x flax {statistics.median(fr):.2f}"
      print(line, flush=True)
      rows.append({"case": case, "impl": item.split(":")[1], "ms": med * 1e3,
                   "tok_s": tokens / med, "x_torch": statistics.median(ratios),
                   "x_torch_min": min(ratios), "x_torch_max": max(ratios), "spread": spread,
                   "cpu": cpu, "faults": faults})
    save()
  for w in workers.values():
    w.call(cmd="quit")
  save()
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--worker", choices=["jax", "torch"])
  parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                      help="cpu: the CPU cases; gpu: GPU_CASES, PyTorch on CUDA")
  parser.add_argument("--tiny", action="store_true",
                      help=f"every shape {TINY} (a dry run of the driver, not a measurement)")
  parser.add_argument("--only", default="", help="comma-separated substrings of case names")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--batch_seconds", type=float, default=0.3,
                      help="each implementation is timed in batches of at least this long")
  parser.add_argument("--ptb_batch_seconds", type=float, default=2.0,
                      help="the same for the PTB cases: at 0.3 s a PTB batch is 1-3 steps, "
                           "and PyTorch's first steps after a pause are slow")
  parser.add_argument("--budget_s", type=float, default=0.0,
                      help="start no case after this many seconds (0: no limit)")
  parser.add_argument("--json", default="", help="write the table rows here")
  parser.add_argument("--log", default="", help="the workers' stderr")
  parser.add_argument("--check", action="store_true")
  parser.add_argument("--malloc_tuned", action="store_true",
                      help="run both workers with ../shared/bench's glibc malloc settings")
  parser.add_argument("--hlo", action="store_true",
                      help="kernels per scan iteration of the seqjax training steps")
  args = parser.parse_args()
  for name in ("batch_seconds", "ptb_batch_seconds"):
    if getattr(args, name) <= 0:
      print(f"error: --{name}={getattr(args, name)}: must be > 0", file=sys.stderr)
      sys.exit(2)
  if args.worker == "jax":
    from seqjax.train import hostmem  # pylint: disable=g-import-not-at-top
    hostmem.tune_malloc()  # as seqjax's trainer does (SEQJAX_TUNE_MALLOC=0: glibc's defaults)
    serve(jax_builders(args.device, args.tiny))
  elif args.worker == "torch":
    serve(torch_builders(args.device, args.tiny))
  elif args.hlo:
    hlo_report()
  elif args.check:
    worst = check()
    print(f"worst relative error {worst:.1e}")
    sys.exit(0 if worst < 1e-4 else 1)
  else:
    drive(args)


if __name__ == "__main__":
  main()
