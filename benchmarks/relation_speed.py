"""The Relation Network's training step on this machine with g over the object pairs written
two ways: on the 4-D ``[B, N, N, G]`` array (``4d``, how ``RelationHead`` was written until
2026-12-04) and on the ``[B N^2, G]`` rows (``rows``, ``RelationHead`` now). The same function
and parameters; only how XLA lays out the products and their gradients differs.

    python -m benchmarks.relation_speed                       # every case, 7 rounds
    python -m benchmarks.relation_speed --only rn_bn --rounds 3
    python -m benchmarks.relation_speed --tiny --rounds 1      # a dry run (tests)

``rn_bn`` and ``rn_bn_g256`` are a whole training step built here the way the trainer's is
(forward with dropout and batch statistics, the cross entropy, every gradient and an Adam
update; the trainer adds its metrics, the gradient norm among them) at the
configs' batch of 64 images with one question each; ``g_pairs`` is g alone (2 x 128, 64 x 625
pairs), forward and gradients. In each round the two are timed in a fresh random order,
``--calls`` calls each; the report is the median over rounds of each round's median, and the
speed-up is taken per round, then its median (and min-max) over rounds. Before timing, their
first losses are compared: they compute the same function.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import random
import statistics
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.rnn_speed import time_batch
from experiments.vqa import task as vqa_task
from seqjax.nn import vqa as vqa_nn

CASES = {  # name: (config module, what it is); rn_bn_g256 is gpu_run.sh's: rn_bn at g 4 x 256
    "rn_bn": ("rn_bn", "RN training step, batch norm, g 2 x 128, 64 images x 1 question"),
    "rn_bn_g256": ("rn_bn", "RN training step, g 4 x 256 (the paper's), 64 x 1"),
}
LAYOUTS = ("4d", "rows")


class FourDRelationHead(vqa_nn.RelationHead):
  """``RelationHead`` as written until 2026-12-04: g's later layers on the ``[B, N, N, G]``
  array (the same parameters and function)."""

  @nn.compact
  def __call__(self, objs, question):
    first = self.g_sizes[0]
    a = nn.Dense(first, use_bias=False, name="g_0_i")(objs)
    b = nn.Dense(first, use_bias=False, name="g_0_j")(objs)
    c = nn.Dense(first, name="g_0_q")(question)
    h = nn.relu(a[:, :, None, :] + b[:, None, :, :] + c[:, None, None, :])
    for k, size in enumerate(self.g_sizes[1:], start=1):
      h = nn.relu(nn.Dense(size, name=f"g_{k}")(h))
    return jnp.sum(h, axis=(1, 2)) if self.reduce == "sum" else jnp.mean(h, axis=(1, 2))


@contextlib.contextmanager
def layout(name: str):
  """``VQAModel`` builds its head from ``seqjax.nn.vqa.RelationHead`` when traced: swap it."""
  saved = vqa_nn.RelationHead
  vqa_nn.RelationHead = FourDRelationHead if name == "4d" else saved
  try:
    yield
  finally:
    vqa_nn.RelationHead = saved


HEAD = "g_pairs"  # the RN's g alone, forward and gradients


def cpu_name() -> str:
  """The CPU's model name, for the report's first line."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "an unnamed CPU"


def config_of(name: str, tiny: bool):
  c = importlib.import_module(f"experiments.vqa.configs.{CASES[name][0]}").get_config()
  if name == "rn_bn_g256":
    c.model.g_sizes = (256, 256, 256, 256)
  if tiny:
    c.model.channels = (4, 4, 4, 4)
    c.model.g_sizes = (8, 8)
    c.model.f_sizes = (8,)
    c.train.batch_size = 4
  return c


def step_fn(name: str, how: str, tiny: bool):
  """A jitted training step of case ``name`` with g laid out ``how``, and its first loss."""
  c = config_of(name, tiny)
  model = vqa_task.TASK.model(c, None)
  b, nq = c.train.batch_size, c.train.questions_per_image
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, size=(b, 75, 75, 3)).astype(np.uint8))
  questions = jnp.asarray(rng.integers(0, 2, size=(b, nq, 11)).astype(np.float32))
  labels = jnp.asarray(rng.integers(0, 12, size=(b, nq)))
  variables = model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, images,
                         questions, deterministic=False)
  params = variables["params"]
  state = {k: v for k, v in variables.items() if k != "params"}
  opt = optax.adam(c.optimizer.learning_rate)
  opt_state = opt.init(params)
  mutable = list(state)

  @jax.jit
  def step(params, opt_state, state, key):
    def loss_fn(p):
      out = model.apply({"params": p, **state}, images, questions, deterministic=False,
                        rngs={"dropout": key}, mutable=mutable or False)
      logits, new_state = out if mutable else (out, {})
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
      return loss, new_state
    (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, new_state, loss

  key = jax.random.key(2)
  with layout(how):  # traced and compiled here, once
    first = float(step(params, opt_state, state, key)[-1])
  return (lambda: jax.block_until_ready(step(params, opt_state, state, key))), first


def head_fn(how: str, tiny: bool):
  """g (2 x 128, mean over the 625 pairs) on 64 questions' objects, forward and gradients,
  written on the 4-D array (``4d``) or on rows (``rows``, ``RelationHead``'s); its first value."""
  b, n, d, q, g = (4, 25, 6, 11, (8, 8)) if tiny else (64, 25, 26, 11, (128, 128))
  rng = np.random.default_rng(0)
  objs = jnp.asarray(rng.normal(size=(b, n, d)).astype(np.float32))
  ques = jnp.asarray(rng.normal(size=(b, q)).astype(np.float32))
  head = (FourDRelationHead if how == "4d" else vqa_nn.RelationHead)(g, "mean")
  params = head.init(jax.random.key(0), objs, ques)["params"]
  t = jnp.asarray(rng.normal(size=(b, g[-1])).astype(np.float32))
  f = jax.jit(jax.value_and_grad(
      lambda p: jnp.sum(jnp.sin(head.apply({"params": p}, objs, ques)) * t)))
  first = float(f(params)[0])
  return (lambda: jax.block_until_ready(f(params))), first


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--only", default="", help="comma-separated cases: " +
                      ", ".join(list(CASES) + [HEAD]))
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--calls", type=int, default=10, help="timed calls a round")
  parser.add_argument("--tiny", action="store_true", help="tiny shapes: a dry run")
  args = parser.parse_args(argv)
  names = [s for s in args.only.split(",") if s] or list(CASES) + [HEAD]
  unknown = [s for s in names if s not in CASES and s != HEAD]
  if unknown:
    print(f"error: --only={args.only}: no case {unknown[0]!r}; the cases are "
          f"{', '.join(list(CASES) + [HEAD])}", file=sys.stderr)
    return 2
  for flag in ("rounds", "calls"):
    if getattr(args, flag) < 1:
      print(f"error: --{flag}={getattr(args, flag)}: must be at least 1", file=sys.stderr)
      return 2
  print(f"jax {jax.__version__} on {jax.default_backend()}; {cpu_name()}; "
        f"{os.cpu_count()} CPUs; {args.rounds} rounds of {args.calls} calls"
        f"{' (tiny shapes)' if args.tiny else ''}", flush=True)
  for name in names:
    impls = list(LAYOUTS)
    fns, firsts = {}, {}
    for impl in impls:
      fns[impl], firsts[impl] = (head_fn(impl, args.tiny) if name == HEAD
                                 else step_fn(name, impl, args.tiny))
      fns[impl]()  # warm
    gap = abs(firsts[impls[1]] - firsts[impls[0]]) / max(abs(firsts[impls[0]]), 1e-12)
    if gap > 1e-3:
      print(f"error: {name}: {impls[1]} computes {firsts[impls[1]]!r} where {impls[0]} computes "
            f"{firsts[impls[0]]!r}; not the same function", file=sys.stderr)
      return 1
    medians = {impl: [] for impl in impls}
    for _ in range(args.rounds):
      order = list(impls)
      random.shuffle(order)
      for impl in order:
        medians[impl].append(statistics.median(time_batch(fns[impl], args.calls)["times"]))
    what = "the RN's g alone (2 x 128, 64 x 625 pairs), forward and gradients" \
        if name == HEAD else CASES[name][1]
    print(f"\n{name}: {what}; first values agree to {gap:.1e}")
    for impl in impls:
      ms = statistics.median(medians[impl]) * 1e3
      ratios = [a / b for a, b in zip(medians[impls[0]], medians[impl])]
      print(f"  {impl:7s} {ms:9.2f} ms a step   speed-up over {impls[0]}: "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
