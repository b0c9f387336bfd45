"""Data-parallel training (``seqjax.parallel``) on the 8 fake CPU devices the test session has
(``conftest``), and across two real processes on localhost."""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from seqjax import parallel
from seqjax.data import sentiment as sentiment_data
from seqjax.data import lm as lm_data
from seqjax.train.writer import read_metrics

STEPS, MORE = 6, 10
REPO = pathlib.Path(__file__).resolve().parents[2]


def config(task: str, data: dict, data_devices: int, num_steps: int):
  """The task's tiny config (global batch 16, dropout on) for ``num_steps`` steps on
  ``data_devices`` devices (-1: all), logging every step."""
  if task == "lm":
    from experiments.lm.configs import tiny  # pylint: disable=g-import-not-at-top
  else:
    from experiments.sentiment.configs import tiny  # pylint: disable=g-import-not-at-top
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = data["manual_dir"], data["data_dir"]
  c.parallel.data = data_devices
  c.train.num_steps, c.train.log_every, c.train.checkpoint_every = num_steps, 1, STEPS
  c.train.eval_every, c.train.test_at_end = 1000, False
  if task == "lm":
    c.sample.length = 0
  else:
    c.data.pad_multiple = c.data.max_length  # one batch width: one compilation
  return c


def trainer(task: str):
  """The experiment's task bound to the one trainer: ``.train_and_evaluate(config, workdir)``."""
  import functools  # pylint: disable=g-import-not-at-top
  import types  # pylint: disable=g-import-not-at-top
  from seqjax.train import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  if task == "lm":
    from experiments.lm.task import TASK  # pylint: disable=g-import-not-at-top
  else:
    from experiments.sentiment.task import TASK  # pylint: disable=g-import-not-at-top
  return types.SimpleNamespace(
      train_and_evaluate=functools.partial(trainer_lib.train_and_evaluate, TASK))


def losses(workdir) -> dict[int, float]:
  return {m["step"]: m["loss"] for m in read_metrics(str(workdir)) if m["split"] == "train"}


def _manager(workdir) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), "checkpoints"),
                               item_handlers={"state": ocp.StandardCheckpointHandler()})


def params(workdir, step: int, like=None) -> list[np.ndarray]:
  """The parameters of checkpoint ``step`` on one device, whatever the devices that wrote it.
  The restore template comes from the checkpoint's own metadata, or from workdir ``like``'s
  (the same model) when this process cannot read the writer's device layout (several
  processes)."""
  with _manager(like or workdir) as source:
    meta = source.item_metadata(step)["state"]
  manager = _manager(workdir)
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), meta)
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target)))
  manager.close()
  return [np.asarray(x) for x in jax.tree.leaves(restored.state["params"])]


def assert_close_losses(a: dict, b: dict) -> None:
  assert sorted(a) == sorted(b)
  np.testing.assert_allclose([a[k] for k in sorted(a)], [b[k] for k in sorted(b)], atol=1e-5,
                             rtol=1e-5)


def assert_close_params(a: list, b: list, tol: float = 5e-5) -> None:
  """Parameters after a few Adam steps. Sharding the batch splits every weight gradient's sum
  (the fused LSTM path computes dW as one matmul over T·B) into per-device partial sums and an
  all-reduce: float32 rounding in another order, which Adam's normalisation amplifies for
  near-zero gradients (the worst entry measured 2.1e-5 after 6 steps)."""
  assert len(a) == len(b)
  for x, y in zip(a, b):
    np.testing.assert_allclose(x, y, atol=tol, rtol=tol)


def quiet(_):
  pass


# --- the mesh, the environment and the data split ------------------------------------------

def test_mesh_shapes_and_errors():
  assert jax.device_count() == 8, "conftest gives the session 8 CPU devices"
  mesh = parallel.make_mesh()
  assert dict(mesh.shape) == {"data": 8, "model": 1}
  assert dict(parallel.make_mesh(data=-1, model=2).shape) == {"data": 4, "model": 2}
  assert parallel.make_mesh(data=4).devices.size == 4  # the first 4 devices
  with pytest.raises(ValueError, match=r"parallel.model=3 must be a positive divisor"):
    parallel.make_mesh(model=3)
  with pytest.raises(ValueError, match=r"parallel.data=16 x parallel.model=1 must be at most"):
    parallel.make_mesh(data=16)


def test_initialize_reads_the_environment():
  assert parallel.initialize({}) is False  # one process: nothing to start
  assert parallel.initialize({"SLURM_NTASKS": "1", "SLURM_STEP_ID": "0"}) is False
  with pytest.raises(ValueError, match=r"\['JAX_PROCESS_ID'\] are not"):
    parallel.initialize({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "2"})
  with pytest.raises(ValueError, match=r"JAX_PROCESS_ID=2 is outside \[0, JAX_NUM_PROCESSES=2\)"):
    parallel.initialize({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "2",
                         "JAX_PROCESS_ID": "2"})
  with pytest.raises(ValueError, match=r"must be integers"):
    parallel.initialize({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "two",
                         "JAX_PROCESS_ID": "0"})


def test_batch_size_must_split_over_the_devices():
  par = parallel.DataParallel(parallel.make_mesh())
  par.check_batch_size(16)
  with pytest.raises(ValueError, match=r"train.batch_size=12 \(the global batch\) must be "
                                       r"divisible by the 8 devices"):
    par.check_batch_size(12)


def test_global_batch_is_sharded_by_rows_and_scalars_replicated():
  par = parallel.DataParallel(parallel.make_mesh())
  batch = {"inputs": np.arange(16 * 3).reshape(16, 3), "reset": np.asarray(True)}
  out = par.global_batch(batch, 16)
  assert out["inputs"].sharding.spec == parallel.P("data")
  assert out["reset"].sharding.is_fully_replicated
  for shard in out["inputs"].addressable_shards:  # device i holds rows 2i, 2i + 1
    rows = np.asarray(shard.data)[:, 0] // 3
    np.testing.assert_array_equal(rows, [2 * shard.device.id, 2 * shard.device.id + 1])
  np.testing.assert_array_equal(np.asarray(out["inputs"]), batch["inputs"])


def test_vocab_axes_shard_over_the_model_axis():
  par = parallel.DataParallel(parallel.make_mesh(model=2), vocab_size=10)
  assert par.param_spec(np.zeros((10, 4))) == parallel.P("model")
  assert par.param_spec(np.zeros((4, 10))) == parallel.P(None, "model")
  assert par.param_spec(np.zeros((4, 4))) == parallel.P()
  assert par.param_spec(np.zeros(())) == parallel.P()


def test_process_shares_of_lm_rows_and_classifier_batches_assemble_the_global_batch():
  ids = np.arange(1000, dtype=np.int32)
  whole = lm_data.LMStream(ids, 8, 5)
  shards = [grain.sharding.ShardOptions(shard_index=i, shard_count=2) for i in range(2)]
  parts = [lm_data.LMStream(ids, 8, 5, rows=parallel.process_rows(8, s)) for s in shards]
  for k in (0, 3):
    for key in ("inputs", "targets", "mask"):
      np.testing.assert_array_equal(np.concatenate([p.batch(k)[key] for p in parts]),
                                    whole.batch(k)[key])
  rng = np.random.default_rng(0)
  split = sentiment_data.Split(ids=[rng.integers(2, 9, rng.integers(1, 30)) for _ in range(50)],
                              labels=rng.integers(0, 2, 50))
  make = lambda shard, shuffle: sentiment_data.text_batches(split, 8, shuffle=shuffle, shard=shard)
  for shuffle in (True, False):
    full = list(make(None, shuffle).dataset(0))
    halves = [list(make(s, shuffle).dataset(0)) for s in shards]
    for b, batch in enumerate(full):
      for key in batch:
        np.testing.assert_array_equal(
            np.concatenate([h[b][key] for h in halves]), batch[key], err_msg=f"{key} {b}")
  with pytest.raises(ValueError, match="batch_size=9 must be divisible by the 2 processes"):
    sentiment_data.text_batches(split, 9, shuffle=True, shard=shards[0])


def test_config_errors_name_the_key(ptb_like, tmp_path):
  c = config("lm", ptb_like, 8, 2)
  c.train.batch_size = 12
  with pytest.raises(ValueError, match=r"train.batch_size=12 \(the global batch\)"):
    trainer("lm").train_and_evaluate(c, str(tmp_path / "a"), log=quiet)
  c = config("lm", ptb_like, 0, 2)
  with pytest.raises(ValueError, match=r"parallel.data must be a positive int"):
    trainer("lm").train_and_evaluate(c, str(tmp_path / "b"), log=quiet)


def test_per_device_batch_size_sets_the_global_batch(ptb_like, tmp_path):
  c = config("lm", ptb_like, 4, 1)
  c.parallel.per_device_batch_size = 3
  logs = []
  trainer("lm").train_and_evaluate(c, str(tmp_path), log=logs.append)
  assert c.train.batch_size == 12
  assert any("mesh data=4 x model=1" in line and "global batch 12 (3 per device)" in line
             for line in logs), logs[:3]


# --- 8 devices train what 1 device trains; checkpoints move between device counts ------------

# The classifier variant runs with the slow tests (`pytest -m slow`): the default suite keeps
# the LM, which covers the same sharding, checkpoint and restore code.
@pytest.mark.parametrize("task", ["lm", pytest.param("sentiment", marks=pytest.mark.slow)])
def test_eight_devices_match_one_and_checkpoints_restore_on_four_and_one(
    task, request, tmp_path):
  data = request.getfixturevalue("ptb_like" if task == "lm" else "sst2_like")
  train = trainer(task)
  runs = {d: tmp_path / f"d{d}" for d in (1, 8)}
  for devices, workdir in runs.items():
    train.train_and_evaluate(config(task, data, devices, STEPS), str(workdir), log=quiet)
  assert_close_losses(losses(runs[1]), losses(runs[8]))
  assert_close_params(params(runs[1], STEPS), params(runs[8], STEPS))
  first = losses(runs[1])
  assert first[STEPS] < first[1], "the loss decreases on the real batch"

  # The 8-device checkpoint (step STEPS) continued on 8, 4 and 1 devices.
  continued = {8: runs[8]}
  for devices in (4, 1):
    continued[devices] = tmp_path / f"from8_on{devices}"
    shutil.copytree(runs[8], continued[devices])
  for devices, workdir in continued.items():
    logs = []
    train.train_and_evaluate(config(task, data, devices, MORE), str(workdir), log=logs.append)
    assert any(line.startswith("resumed from") and f"at step {STEPS}" in line for line in logs)
  after = {d: {s: v for s, v in losses(w).items() if s > STEPS} for d, w in continued.items()}
  assert sorted(after[8]) == list(range(STEPS + 1, MORE + 1))
  for devices in (4, 1):
    assert_close_losses(after[8], after[devices])
    assert_close_params(params(continued[8], MORE), params(continued[devices], MORE))


def test_vocabulary_sharded_over_the_model_axis_trains_what_one_device_trains(ptb_like, tmp_path):
  train = trainer("lm")
  from experiments.lm.task import load_corpus  # pylint: disable=g-import-not-at-top
  vocab = len(load_corpus(config("lm", ptb_like, 1, 1)).vocab)
  divisors = [m for m in (2, 4, 8) if vocab % m == 0]
  if not divisors:
    pytest.skip(f"the generated vocabulary ({vocab}) has no model-axis divisor in 2, 4, 8")
  model = divisors[0]
  runs = {}
  for name, (data, model_axis, shard) in {"one": (1, 1, False),
                                          "sharded": (-1, model, True)}.items():
    c = config("lm", ptb_like, data, STEPS)
    c.parallel.model, c.parallel.shard_vocab = model_axis, shard
    runs[name] = tmp_path / name
    logs = []
    train.train_and_evaluate(c, str(runs[name]), log=logs.append)
  assert any(f"vocabulary axis ({vocab}) sharded over model={model}" in line for line in logs)
  assert_close_losses(losses(runs["one"]), losses(runs["sharded"]))
  # The sharded softmax sums its logits in another order; Adam's first steps (update ~ sign of
  # the gradient) amplify that float rounding to ~1e-5 in a few weights.
  assert_close_params(params(runs["one"], STEPS), params(runs["sharded"], STEPS))
  c = config("lm", ptb_like, -1, 1)
  c.parallel.shard_vocab = True
  with pytest.raises(ValueError, match=r"parallel.shard_vocab needs parallel.model > 1"):
    train.train_and_evaluate(c, str(tmp_path / "bad"), log=quiet)


# --- two real processes -----------------------------------------------------------------------

def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow  # run with `pytest -m slow` (tests/test_launch.py runs two processes by default)
def test_two_processes_on_localhost_train_what_one_device_trains(ptb_like, tmp_path):
  """Two processes with 2 CPU devices each (``jax.distributed`` with the coordinator on
  127.0.0.1, gloo collectives) train the tiny LM: the same losses and parameters as one
  device, each process reading its own rows; their checkpoint then resumes in this one
  process."""
  train = trainer("lm")
  single = tmp_path / "one_device"
  train.train_and_evaluate(config("lm", ptb_like, 1, STEPS), str(single), log=quiet)
  workdir = tmp_path / "two_processes"
  port = _free_port()
  procs = []
  for pid in range(2):
    env = {**os.environ, "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
           "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(pid),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "PYTHONPATH": str(REPO)}
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "tests.train.multidevice", "lm", ptb_like["manual_dir"],
         ptb_like["data_dir"], str(workdir)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True))
  outputs = []
  for p in procs:
    try:
      out, _ = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail("the two-process run did not finish in 180 s")
    outputs.append(out)
  if any(p.returncode for p in procs) and any(
      "gloo" in o.lower() and "not" in o.lower() and "support" in o.lower() for o in outputs):
    pytest.skip("this platform's JAX cannot run CPU collectives across processes (gloo)")
  for pid, (p, out) in enumerate(zip(procs, outputs)):
    assert p.returncode == 0, f"process {pid} failed:\n{out[-3000:]}"
    assert f"process {pid} of 2: 4 devices, done" in out, out[-2000:]
  assert_close_losses(losses(single), losses(workdir))
  assert_close_params(params(single, STEPS), params(workdir, STEPS, like=single))
  # The two-process checkpoint resumes here, in one process on 8 devices, and goes on as the
  # one-device run does.
  for run, devices in ((single, 1), (workdir, 8)):
    logs = []
    train.train_and_evaluate(config("lm", ptb_like, devices, MORE), str(run), log=logs.append)
    assert any(line.startswith("resumed from") and f"at step {STEPS}" in line for line in logs)
  assert_close_losses(losses(single), losses(workdir))
  assert_close_params(params(single, MORE), params(workdir, MORE))
