"""Where the time of a PTB-small training step goes, in seqjax and in PyTorch, part by part.

    python -m benchmarks.ptb_profile [--rounds 5]

Zaremba et al.'s small model: batch 20 x 35, vocabulary 10,000, 2 x 200 LSTM. Each part is
timed forward + backward on its own, with the gradient that flows into it, as a jitted function
(JAX) or eagerly (PyTorch, 2 threads):

- ``lstm``: the 2-layer LSTM stack over the embedded window (gradients of the weights and the
  inputs), seqjax on each CPU back end and ``torch.nn.LSTM``;
- ``softmax``: the output layer and the loss, ``[700, 200] x [200, 10000]``, cross-entropy
  averaged over the batch and summed over time, gradients of the weights and the hidden states;
- ``gemm-fwd``, ``gemm-dx``, ``gemm-dw``: the output layer's three matrix products alone,
  ``[700, 200] x [200, 10000]``, ``[700, 10000] x [10000, 200]`` and ``[200, 700] x
  [700, 10000]`` (XLA's dot against PyTorch's, i.e. MKL's, ``mm``);
- ``fwd-logits``, ``fwd-loss``: forward only, the output layer's logits (product and bias), and
  the same followed by the loss: their difference is what the loss's forward costs after the
  product in one program.

The whole training step is ``benchmarks.rnn_speed``'s ``ptb-small-train``.

Implementations alternate in every round; the table gives the median of the rounds' medians.
Both frameworks share this one process, so both get ``seqjax.train.hostmem.tune_malloc`` (as
seqjax's trainer applies it), or neither with ``SEQJAX_TUNE_MALLOC=0``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

B, T, H, V = 20, 35, 200, 10000


def _time(fn, n):
  fn()
  times = []
  for _ in range(n):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def jax_parts():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from seqjax.cells import lstm  # pylint: disable=g-import-not-at-top
  from seqjax.recurrence import init_stack, onednn, stack  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  xs = jnp.asarray(rng.normal(size=(B, T, H)).astype(np.float32))
  g_out = jnp.asarray(rng.normal(size=(B, T, H)).astype(np.float32))
  params = init_stack(lstm.CELL, jax.random.PRNGKey(0), H, H, 2)
  parts = {}
  backends = ["fused", "scan"] + (["onednn"] if onednn.available() else [])
  for backend in backends:
    f = jax.jit(jax.grad(lambda p, x, b=backend: jnp.sum(
        stack(lstm.CELL, p, x, deterministic=True, backend=b)[0] * g_out), argnums=(0, 1)))
    parts[f"lstm:seqjax-{backend}"] = lambda f=f: jax.block_until_ready(f(params, xs))
  w = jnp.asarray(rng.uniform(-0.1, 0.1, size=(H, V)).astype(np.float32))
  b = jnp.zeros((V,), jnp.float32)
  h = jnp.asarray(rng.normal(size=(B * T, H)).astype(np.float32))
  targets = jnp.asarray(rng.integers(0, V, size=(B * T,)), jnp.int32)

  def loss(w, b, h):
    logits = h @ w + b[None, :]
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.take_along_axis(logp, targets[:, None], axis=-1)) / B

  g = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
  parts["softmax:seqjax"] = lambda: jax.block_until_ready(g(w, b, h))
  fl = jax.jit(lambda w, b, h: h @ w + b[None, :])
  parts["fwd-logits:seqjax"] = lambda: jax.block_until_ready(fl(w, b, h))
  fs = jax.jit(loss)
  parts["fwd-loss:seqjax"] = lambda: jax.block_until_ready(fs(w, b, h))
  d_logits = jnp.asarray(rng.normal(size=(B * T, V)).astype(np.float32))
  products = {"fwd": (lambda h, w, d: h @ w), "dx": (lambda h, w, d: d @ w.T),
              "dw": (lambda h, w, d: h.T @ d)}
  for name, fn in products.items():
    f = jax.jit(fn)
    parts[f"gemm-{name}:seqjax"] = lambda f=f: jax.block_until_ready(f(h, w, d_logits))
  return parts


def torch_parts():
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(2)
  rng = np.random.default_rng(0)
  m = torch.nn.LSTM(H, H, num_layers=2, batch_first=True)
  xs = torch.tensor(rng.normal(size=(B, T, H)).astype(np.float32), requires_grad=True)
  g_out = torch.tensor(rng.normal(size=(B, T, H)).astype(np.float32))
  out_layer = torch.nn.Linear(H, V)
  h = torch.tensor(rng.normal(size=(B * T, H)).astype(np.float32), requires_grad=True)
  targets = torch.tensor(rng.integers(0, V, size=(B * T,)))

  def lstm_part():
    m.zero_grad()
    xs.grad = None
    (m(xs)[0] * g_out).sum().backward()

  def softmax_part():
    out_layer.zero_grad()
    h.grad = None
    loss = torch.nn.functional.cross_entropy(out_layer(h), targets, reduction="sum") / B
    loss.backward()

  w = out_layer.weight.detach().T.contiguous()  # [H, V], as seqjax stores it
  hd = h.detach()
  d_logits = torch.tensor(rng.normal(size=(B * T, V)).astype(np.float32))
  def forward(with_loss):
    with torch.no_grad():
      logits = out_layer(h)
      if with_loss:
        torch.nn.functional.cross_entropy(logits, targets, reduction="sum")

  return {"lstm:torch": lstm_part, "softmax:torch": softmax_part,
          "fwd-logits:torch": lambda: forward(False), "fwd-loss:torch": lambda: forward(True),
          "gemm-fwd:torch": lambda: torch.mm(hd, w),
          "gemm-dx:torch": lambda: torch.mm(d_logits, w.T),
          "gemm-dw:torch": lambda: torch.mm(hd.T, d_logits)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--iters", type=int, default=10)
  args = parser.parse_args()
  from seqjax.train import hostmem  # pylint: disable=g-import-not-at-top
  print(hostmem.tune_malloc() or "glibc's malloc defaults (SEQJAX_TUNE_MALLOC=0)")
  parts = {**jax_parts(), **torch_parts()}
  results = {name: [] for name in parts}
  order = list(parts)
  for rnd in range(args.rounds):
    np.random.default_rng(rnd).shuffle(order)
    for name in order:
      results[name].append(_time(parts[name], args.iters))
  print(f"PTB small, batch {B} x {T}, vocabulary {V}, 2 x {H} LSTM; ms per forward + backward "
        f"(median of {args.rounds} rounds of {args.iters})")
  for name in sorted(parts):
    times = results[name]
    print(f"  {name:<22} {statistics.median(times) * 1e3:8.2f} ms  "
          f"(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f})")


if __name__ == "__main__":
  main()
