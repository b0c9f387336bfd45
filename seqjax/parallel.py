"""Data-parallel training on every device, on one host or many, through ``jax.sharding``.

One code path serves a laptop CPU, a multi-GPU host and a TPU pod:

- ``initialize()`` starts JAX's distributed runtime when the environment says the job has
  several processes (``JAX_COORDINATOR_ADDRESS`` + ``JAX_NUM_PROCESSES`` + ``JAX_PROCESS_ID``,
  a SLURM step of several tasks, or a multi-host TPU VM); on one process it does nothing.
- ``make_mesh(data, model)`` lays every device out on a ``("data", "model")`` mesh.
- ``DataParallel`` places the ``TrainState`` (parameters and optimizer state replicated, or the
  vocabulary axis of the embedding and softmax sharded over ``model``; the recurrent carry
  sharded on its batch axis), turns each process's part of a batch into a global array sharded
  on the batch axis, and jits steps with explicit in/out shardings.

Batches: ``global_batch_size`` rows per step over all processes; process ``p`` of ``P`` reads
rows ``[p * B / P, (p + 1) * B / P)`` (``shard_options()`` / ``process_rows()``), and inside a
process the rows go to its devices in order, so row ``b`` always lands on the same device: an
LM's carried state stays with its row. Gradients are the mean over the global batch, so
``N`` devices train the same model as one device given the same global batch.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import grain
import jax
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np

DATA, MODEL = "data", "model"

# How many devices the batch being traced is split over (1: not split). Kernels that XLA cannot
# partition (an FFI call runs whole, so XLA would gather the batch onto every device and run it
# there) read it to step aside: ``seqjax.recurrence``'s ``auto`` skips the oneDNN back end.
_batch_shards = contextvars.ContextVar("seqjax_batch_shards", default=1)


def batch_shards() -> int:
  """The number of devices the batch being traced is split over (``tracing_sharded``)."""
  return _batch_shards.get()


@contextlib.contextmanager
def tracing_sharded(devices: int):
  """Marks what is traced inside as running on a batch split over ``devices`` devices."""
  token = _batch_shards.set(int(devices))
  try:
    yield
  finally:
    _batch_shards.reset(token)

_initialized = False


def initialize(env: Optional[Mapping[str, str]] = None) -> bool:
  """Starts ``jax.distributed`` when the job runs as several processes; returns whether it did.

  - ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0), with ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID`` (and optionally ``JAX_LOCAL_DEVICE_IDS``, comma separated): explicit, as
    ``launch/gpu_multihost.sh`` sets them.
  - ``SLURM_NTASKS`` > 1 inside ``srun``, or ``TPU_WORKER_HOSTNAMES`` naming several hosts: JAX
    detects the cluster itself.
  - Otherwise (one process) nothing happens. Calling it twice is harmless.
  """
  global _initialized
  env = os.environ if env is None else env
  if _initialized:
    return True
  address = env.get("JAX_COORDINATOR_ADDRESS", "")
  if address:
    missing = [k for k in ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID") if not env.get(k)]
    if missing:
      raise ValueError(f"JAX_COORDINATOR_ADDRESS={address!r} is set but {missing} are not; "
                       "set all three to launch several processes")
    try:
      num, pid = int(env["JAX_NUM_PROCESSES"]), int(env["JAX_PROCESS_ID"])
    except ValueError:
      raise ValueError(f"JAX_NUM_PROCESSES={env['JAX_NUM_PROCESSES']!r} and JAX_PROCESS_ID="
                       f"{env['JAX_PROCESS_ID']!r} must be integers") from None
    if not 0 <= pid < num:
      raise ValueError(f"JAX_PROCESS_ID={pid} is outside [0, JAX_NUM_PROCESSES={num})")
    local = env.get("JAX_LOCAL_DEVICE_IDS", "")
    jax.distributed.initialize(
        coordinator_address=address, num_processes=num, process_id=pid,
        local_device_ids=[int(i) for i in local.split(",")] if local else None)
  elif int(env.get("SLURM_NTASKS", "1") or 1) > 1 and env.get("SLURM_STEP_ID") is not None:
    jax.distributed.initialize()
  elif len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1:
    jax.distributed.initialize()
  else:
    return False
  _initialized = True
  return True


def make_mesh(data: int = -1, model: int = 1,
              devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A ``("data", "model")`` mesh over ``devices`` (default: every device of every process).

  ``data=-1`` takes all the devices ``model`` leaves. On one process a smaller
  ``data x model`` uses the first devices (e.g. 4 of 8, to compare device counts); several
  processes must use every device.
  """
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices)
  if model < 1 or n % model:
    raise ValueError(f"parallel.model={model} must be a positive divisor of the {n} devices")
  if data == -1:
    data = n // model
  if data < 1 or data * model > n or (data * model < n and jax.process_count() > 1):
    raise ValueError(f"parallel.data={data} x parallel.model={model} must be at most the {n} "
                     "devices (all of them with several processes; data=-1 takes the rest)")
  devices = devices[:data * model]
  try:
    grid = mesh_utils.create_device_mesh((data, model), devices)
  except (ValueError, NotImplementedError, AssertionError):
    grid = np.asarray(devices, dtype=object).reshape(data, model)
  return Mesh(grid, (DATA, MODEL))


def shard_options() -> grain.sharding.ShardOptions:
  """This process's share of the data: shard ``process_index`` of ``process_count``."""
  return grain.sharding.ShardByJaxProcess(drop_remainder=True)


def process_rows(global_batch_size: int, shard: Optional[grain.sharding.ShardOptions] = None) -> slice:
  """The rows of a global batch that process ``shard.shard_index`` reads."""
  shard = shard or shard_options()
  if global_batch_size % shard.shard_count:
    raise ValueError(f"the global batch size {global_batch_size} must be divisible by the "
                     f"{shard.shard_count} processes")
  per = global_batch_size // shard.shard_count
  return slice(shard.shard_index * per, (shard.shard_index + 1) * per)


def _shape(x: Any) -> tuple[int, ...]:
  """The shape of an array, a ``jax.ShapeDtypeStruct`` (``jax.eval_shape``) or a scalar."""
  shape = getattr(x, "shape", None)
  return tuple(shape) if shape is not None else np.shape(x)


def _is_batch_leaf(x: Any, batch_size: int) -> bool:
  return len(_shape(x)) >= 1 and _shape(x)[0] == batch_size


@dataclasses.dataclass
class DataParallel:
  """Placement and jitting for data-parallel training on ``mesh``.

  ``vocab_size`` (with a ``model`` axis > 1) shards every parameter axis of that size (the
  embedding's rows, the softmax's columns and bias, and the matching Adam moments) over
  ``model``; everything else is replicated.
  """
  mesh: Mesh
  vocab_size: int = 0

  @property
  def data_size(self) -> int:
    return self.mesh.shape[DATA]

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())

  @property
  def batch_sharding(self) -> NamedSharding:
    return NamedSharding(self.mesh, P(DATA))

  def check_batch_size(self, global_batch_size: int, key: str = "train.batch_size") -> None:
    """A clear error when ``global_batch_size`` cannot be split over the data axis."""
    if global_batch_size % self.data_size or global_batch_size % jax.process_count():
      raise ValueError(
          f"{key}={global_batch_size} (the global batch) must be divisible by the "
          f"{self.data_size} devices of the data axis and the {jax.process_count()} processes; "
          f"per device it would be {global_batch_size / self.data_size:g}")

  def param_spec(self, x: Any) -> P:
    if self.vocab_size and self.mesh.shape[MODEL] > 1 and _shape(x):
      shape = _shape(x)
      for axis, size in enumerate(shape):
        if size == self.vocab_size and size % self.mesh.shape[MODEL] == 0:
          return P(*([None] * axis + [MODEL]))
    return P()

  def param_shardings(self, tree: Any) -> Any:
    return jax.tree.map(lambda x: NamedSharding(self.mesh, self.param_spec(x)), tree)

  def carry_shardings(self, carry: Any) -> Any:
    """The carry's leading (batch) axis goes over ``data``."""
    return jax.tree.map(lambda x: NamedSharding(self.mesh, P(DATA) if _shape(x) else P()),
                        carry)

  def state_shardings(self, state: Any) -> Any:
    """Shardings of a ``TrainState`` (same structure)."""
    out = state.replace(step=self.replicated, key=self.replicated,
                        params=self.param_shardings(state.params),
                        opt_state=self.param_shardings(state.opt_state),
                        carry=self.carry_shardings(state.carry))
    if getattr(state, "model_state", None) is not None:  # a StatefulTrainState's: replicated
      out = out.replace(model_state=jax.tree.map(lambda _: self.replicated, state.model_state))
    return out

  def put_state(self, state: Any) -> Any:
    """``state`` on the mesh. Every process must hold the same values (the same seed)."""
    return self.put(state, self.state_shardings(state))

  def _put_global(self, x: Any, sharding: NamedSharding) -> jax.Array:
    x = np.asarray(jax.device_get(x))
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  def batch_shardings(self, batch: Mapping[str, Any], global_batch_size: int) -> dict:
    """``batch`` may be the global batch or this process's rows of it."""
    local_rows = global_batch_size // jax.process_count()
    return {k: self.batch_sharding if (_is_batch_leaf(v, global_batch_size) or
                                       _is_batch_leaf(v, local_rows)) else self.replicated
            for k, v in batch.items()}

  def global_batch(self, local: Mapping[str, Any], global_batch_size: int) -> dict:
    """This process's rows of a batch -> global arrays sharded on the batch axis; scalars (and
    any leaf without a leading batch axis) replicated. Every process must call it."""
    local_rows = global_batch_size // jax.process_count()
    out = {}
    for k, v in local.items():
      v = np.asarray(v)
      if _is_batch_leaf(v, local_rows):
        out[k] = jax.make_array_from_process_local_data(
            self.batch_sharding, v, (global_batch_size,) + v.shape[1:])
      else:
        out[k] = jax.make_array_from_process_local_data(self.replicated, v)
    return out

  def put(self, tree: Any, shardings: Any) -> Any:
    """Host values (the same on every process) -> global arrays with ``shardings``."""
    return jax.tree.map(self._put_global, tree, shardings)

  def place_eval(self, batch: Mapping[str, Any], carry: Any, batch_size: int) -> tuple[dict, Any]:
    """An evaluation batch (whole on every process) and its carry: sharded on the batch axis
    when ``batch_size`` splits over the data axis, else replicated. A carry already on the
    mesh is left where it is."""
    split = batch_size % self.data_size == 0
    if split:
      rows = process_rows(batch_size)
      batch = self.global_batch({k: (np.asarray(v)[rows] if _is_batch_leaf(v, batch_size)
                                     else v) for k, v in batch.items()}, batch_size)
    else:
      batch = self.replicate(batch)
    leaves = jax.tree.leaves(carry)
    if leaves and not (isinstance(leaves[0], jax.Array) and
                       isinstance(leaves[0].sharding, NamedSharding) and
                       leaves[0].sharding.mesh == self.mesh):
      carry = self.put(carry, self.carry_shardings(carry) if split else
                       jax.tree.map(lambda _: self.replicated, carry))
    return batch, carry

  def replicate(self, batch: Mapping[str, Any]) -> dict:
    """The same (whole) batch on every device, e.g. an evaluation batch of 1 row."""
    return {k: jax.make_array_from_process_local_data(self.replicated, np.asarray(v))
            for k, v in batch.items()}

  def jit_train_step(self, train_step: Callable, state: Any, batch: Mapping[str, Any],
                     global_batch_size: int) -> Callable:
    """``jax.jit(train_step)`` with the state and batch shardings explicit, the state donated
    and the metrics replicated."""
    state_sh = self.state_shardings(state)
    batch_sh = self.batch_shardings(batch, global_batch_size)
    return jax.jit(self.sharded(train_step), in_shardings=(state_sh, batch_sh),
                   out_shardings=(state_sh, self.replicated), donate_argnums=0)

  def sharded(self, fn: Callable) -> Callable:
    """``fn`` traced under ``tracing_sharded(data_size)``: for functions jitted on batches
    sharded over this mesh's ``data`` axis."""
    if self.data_size == 1:
      return fn

    def traced(*args, **kwargs):
      with tracing_sharded(self.data_size):
        return fn(*args, **kwargs)
    return traced

  def batches(self, batches: Any, global_batch_size: int) -> "ShardedBatches":
    return ShardedBatches(batches, self, global_batch_size)


class ShardedBatches:
  """Wraps a checkpointable iterator of this process's batch rows: yields global arrays and
  passes ``get_state`` / ``set_state`` through (every process is at the same position)."""

  def __init__(self, batches: Any, parallel: DataParallel, global_batch_size: int):
    self.inner, self.parallel, self.global_batch_size = batches, parallel, global_batch_size

  def __len__(self) -> int:
    return len(self.inner)

  def __iter__(self) -> Iterator[dict]:
    for batch in self.inner:
      yield self.parallel.global_batch(batch, self.global_batch_size)

  def get_state(self) -> dict:
    return self.inner.get_state()

  def set_state(self, state: dict) -> None:
    self.inner.set_state(state)


def from_config(section: Any) -> DataParallel:
  """A ``DataParallel`` from a config's ``parallel`` section (``data``, ``model``); starts the
  distributed runtime first when the environment asks for it."""
  initialize()
  return DataParallel(make_mesh(int(section.data), int(section.model)))


def describe(mesh: Mesh) -> str:
  """One line for the log: processes, devices and the mesh shape."""
  kinds = sorted({d.device_kind for d in mesh.devices.flat})
  return (f"mesh data={mesh.shape[DATA]} x model={mesh.shape[MODEL]} over {mesh.devices.size} "
          f"{'/'.join(kinds)} devices, process {jax.process_index()} of {jax.process_count()}")
