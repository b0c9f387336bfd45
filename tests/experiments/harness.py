"""What the experiment tests share: a task's data, model and initial state built the way the
trainer builds them, and one split scored through the trainer's evaluation."""

from __future__ import annotations

from typing import Any

from seqjax import parallel
from seqjax.train import trainer
from seqjax.train.task import Data, Run, Task


def quiet(_: str) -> None:
  pass


def build(task: Task, config) -> tuple[Data, Any, Any]:
  """``(data, model, initial TrainState)`` of ``config``, as a fresh run starts."""
  data = task.data(config, None)
  model = task.model(config, data.meta, data)
  num_steps = trainer.num_steps_of(config, data.steps_per_epoch)
  optimizer = task.optimizer(config, data.steps_per_epoch, num_steps)
  init = trainer.state_initializer(task, config, model, optimizer, data.meta,
                                   config.train.batch_size)
  return data, model, init()


def evaluate(task: Task, config, data: Data, model: Any, params: Any, split: str) -> dict:
  """``task.evaluate`` of ``params`` on ``data.evals[split]``, on one device."""
  run = Run(task=task, config=config, workdir="", data=data, model=model,
            parallel=parallel.DataParallel(parallel.make_mesh(1, 1)), log=quiet)
  import jax  # pylint: disable=g-import-not-at-top
  run.eval_step = jax.jit(lambda p, b, c: task.eval_step(model, p, b, c, config))
  return task.evaluate(run, params, split)
