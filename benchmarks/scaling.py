"""Data-parallel scaling check: one LM train step on 1, 2, 4 and 8 devices with the same global
batch, the step time and the parameters after a few steps against one device.

    python -m benchmarks.scaling                     # 8 fake CPU devices (set here)
    python -m benchmarks.scaling --devices=1,2,4,8 --batch=64 --hidden=200 --vocab=10000

On CPU the fake devices share the host's cores, so the step time shows the cost of the
sharding (partitioned compute, all-reduces), not a speed-up; the equality columns are the
point. On a real multi-device host (GPU, TPU), drop nothing: the same command measures scaling
over the host's devices.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_force_host_platform_device_count=8").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from seqjax import parallel  # noqa: E402
from seqjax.nn import lm as lm_nn  # noqa: E402
from seqjax.nn.rnn import RNNSpec  # noqa: E402
from experiments.lm.task import TASK  # noqa: E402
from seqjax.train import optim, trainer  # noqa: E402
from seqjax.train.state import TrainState  # noqa: E402
import ml_collections  # noqa: E402


def batches(seed: int, n: int, batch: int, bptt: int, vocab: int):
  rng = np.random.default_rng(seed)
  for k in range(n):
    ids = rng.integers(0, vocab, (batch, bptt + 1), dtype=np.int32)
    yield {"inputs": ids[:, :-1], "targets": ids[:, 1:],
           "mask": np.ones((batch, bptt), np.float32), "reset": np.asarray(k == 0)}


def run(devices: int, args) -> tuple[float, list[np.ndarray], list[float]]:
  par = parallel.DataParallel(parallel.make_mesh(data=devices))
  par.check_batch_size(args.batch)
  model = lm_nn.RNNLM(vocab_size=args.vocab, dropout_rate=0.2,
                      rnn=RNNSpec(hidden_size=args.hidden, num_layers=2, dropout_rate=0.2))
  opt_config = ml_collections.ConfigDict({"name": "sgd", "learning_rate": 1.0, "momentum": 0.0,
                                          "weight_decay": 0.0, "clip_norm": 5.0,
                                          "schedule": "constant", "decay": 0.5,
                                          "decay_after": 4, "warmup_steps": 0,
                                          "total_steps": 0})
  optimizer = optim.make_optimizer(opt_config, 100, 100)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((args.batch, args.bptt), jnp.int32))
  params = params["params"]
  state = TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                     opt_state=optimizer.init(params), key=jax.random.PRNGKey(1),
                     carry=lm_nn.initial_carry(model, params, args.batch))
  state = par.put_state(state)
  data = list(batches(0, args.steps, args.batch, args.bptt, args.vocab))
  config = ml_collections.ConfigDict({"train": {"loss_reduction": "mean"},
                                      "optimizer": opt_config})
  step = par.jit_train_step(trainer.make_train_step(TASK, model, optimizer, config), state, data[0],
                            args.batch)
  times, losses = [], []
  for batch in data:
    batch = par.global_batch(batch, args.batch)
    start = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - start)
    losses.append(float(metrics["loss"]))
  leaves = [np.asarray(x) for x in jax.tree.leaves(state.params)]
  return statistics.median(times[2:]), leaves, losses


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--devices", default="1,2,4,8")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--bptt", type=int, default=35)
  parser.add_argument("--hidden", type=int, default=200)
  parser.add_argument("--vocab", type=int, default=10000)
  parser.add_argument("--steps", type=int, default=12)
  args = parser.parse_args()
  kinds = sorted({d.device_kind for d in jax.devices()})
  print(f"{jax.device_count()} {'/'.join(kinds)} devices; 2x{args.hidden} LSTM LM, vocab "
        f"{args.vocab}, global batch {args.batch} x bptt {args.bptt}, dropout 0.2, "
        f"{args.steps} SGD steps")
  print("| devices | per-device batch | step time (median) | tokens/s | max |Δparam| vs 1 "
        "| max |Δloss| vs 1 |")
  print("|---|---|---|---|---|---|")
  reference = None
  for n in (int(x) for x in args.devices.split(",")):
    seconds, leaves, losses = run(n, args)
    if reference is None:
      reference = (leaves, losses)
    dparam = max(float(np.max(np.abs(a - b))) for a, b in zip(leaves, reference[0]))
    dloss = max(abs(a - b) for a, b in zip(losses, reference[1]))
    print(f"| {n} | {args.batch // n} | {seconds * 1e3:.1f} ms | "
          f"{args.batch * args.bptt / seconds:,.0f} | {dparam:.1e} | {dloss:.1e} |", flush=True)


if __name__ == "__main__":
  main()
