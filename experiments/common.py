"""What every experiment shares: the loop and optimizer config sections, ``LoopOptions`` from
them, and the ``main.py`` entry point with one-line errors for bad flags and configs."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

from absl import app, flags, logging
import jax
import ml_collections
from ml_collections import config_flags

from seqjax import parallel
from seqjax.train.loop import LoopOptions


def loop_section(**defaults: Any) -> ml_collections.ConfigDict:
  """The keys of ``config.train`` that drive ``seqjax.train.loop.fit``, with ``defaults``
  overriding the shared defaults (a task adds its own keys: batch size, ...)."""
  c = ml_collections.ConfigDict()
  c.num_epochs = 10
  c.num_steps = 0  # > 0 overrides num_epochs
  c.log_every = 100
  c.eval_every = 0  # 0: every epoch
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.patience = 0  # evaluations without improvement before stopping; 0: never
  c.plateau_factor = 0.0  # > 0: multiply the learning rate by it when validation stalls
  c.plateau_patience = 1
  c.test_at_end = True
  c.update(defaults)
  return c


def optimizer_section(**defaults: Any) -> ml_collections.ConfigDict:
  """``config.optimizer``: every key ``seqjax.train.optim.make_optimizer`` reads."""
  c = ml_collections.ConfigDict()
  c.name = "sgd"  # sgd | adam | adamw
  c.learning_rate = 0.1
  c.momentum = 0.0
  c.weight_decay = 0.0
  c.clip_norm = 0.0  # global gradient norm; 0: no clipping
  c.schedule = "constant"  # constant | zaremba | warmup_cosine | plateau
  c.decay = 0.5
  c.decay_after = 4
  c.warmup_steps = 0
  c.total_steps = 0
  c.update(defaults)
  return c


def parallel_section(**defaults: Any) -> ml_collections.ConfigDict:
  """``config.parallel``: the device mesh (``seqjax.parallel``). ``train.batch_size`` is the
  global batch over every device of every process unless ``per_device_batch_size`` is set."""
  c = ml_collections.ConfigDict()
  c.data = -1  # devices on the data axis; -1: every device the model axis leaves
  c.model = 1  # devices on the model axis (the vocabulary axis with shard_vocab)
  c.shard_vocab = False  # shard the embedding rows and softmax columns over the model axis
  c.per_device_batch_size = 0  # > 0: train.batch_size = this x the data-axis devices
  c.update(defaults)
  return c


def data_parallel(config: ml_collections.ConfigDict, vocab_size: int = 0,
                  log: Callable[[str], None] = print) -> parallel.DataParallel:
  """The run's ``DataParallel`` from ``config.parallel`` (starting ``jax.distributed`` when
  launched as several processes). Resolves ``train.batch_size`` to the global batch (from
  ``parallel.per_device_batch_size`` when set) and checks that it splits over the devices."""
  section = config.parallel
  check_positive_ints({"parallel.model": section.model})
  if section.data != -1:
    check_positive_ints({"parallel.data": section.data})
  par = parallel.from_config(section)
  if section.shard_vocab:
    if section.model < 2 or not vocab_size or vocab_size % section.model:
      raise ValueError(f"parallel.shard_vocab needs parallel.model > 1 dividing the vocabulary "
                       f"size; got model={section.model}, vocabulary {vocab_size or 'none'}")
    par.vocab_size = vocab_size
    log(f"vocabulary axis ({vocab_size}) sharded over model={section.model}")
  if section.per_device_batch_size:
    check_positive_ints({"parallel.per_device_batch_size": section.per_device_batch_size})
    config.train.batch_size = section.per_device_batch_size * par.data_size
  par.check_batch_size(config.train.batch_size)
  log(f"{parallel.describe(par.mesh)}; global batch {config.train.batch_size} "
      f"({config.train.batch_size // par.data_size} per device)")
  return par


def read_run(workdir: str, which: str = "best") -> tuple[dict[str, Any], ml_collections.ConfigDict]:
  """``(meta, config)`` saved with checkpoint ``which`` (``best`` or ``last``) of a trained
  workdir; ``FileNotFoundError`` names ``--workdir`` when it is not a directory."""
  from seqjax.train import checkpoint  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"--workdir={workdir!r} is not a directory")
  meta = checkpoint.read_meta(workdir, which=which)
  return meta, ml_collections.ConfigDict(json.loads(meta["config"]))


def restore_params(workdir: str, template: Any, which: str = "best") -> Any:
  """The parameters of checkpoint ``which``, restored into ``template`` (a ``TrainState`` of
  the same model; its optimizer only gives the state its structure)."""
  from seqjax.train import checkpoint  # pylint: disable=g-import-not-at-top
  ckpt = checkpoint.Checkpointer(workdir)
  state, _, _ = ckpt.restore(template, which=which)
  ckpt.close()
  return state.params


def loop_options(train: ml_collections.ConfigDict, num_steps: int, steps_per_epoch: int,
                 **extra: Any) -> LoopOptions:
  """``LoopOptions`` from a ``loop_section`` (``extra``: tokens_per_step, best_metric, ...)."""
  return LoopOptions(num_steps=num_steps, steps_per_epoch=steps_per_epoch,
                     log_every=train.log_every, eval_every=train.eval_every,
                     checkpoint_every=train.checkpoint_every,
                     keep_checkpoints=train.keep_checkpoints, patience=train.patience,
                     plateau_factor=train.plateau_factor,
                     plateau_patience=train.plateau_patience, **extra)


def check_choices(choices: dict[str, tuple[Any, Any]]) -> None:
  """``{"section.key": (value, allowed)}``: ``ValueError`` naming the first value not allowed."""
  for key, (value, allowed) in choices.items():
    if value not in allowed:
      raise ValueError(f"{key} must be one of {list(allowed)}; got {value!r}")


def check_positive_ints(values: dict[str, Any]) -> None:
  """``{"section.key": value}``: ``ValueError`` naming the first value that is not an int >= 1."""
  for key, value in values.items():
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"{key} must be a positive int; got {value!r}")


def check_num_steps(train: ml_collections.ConfigDict) -> None:
  if train.num_steps < 0 or (train.num_steps == 0 and train.num_epochs < 1):
    raise ValueError("train.num_steps must be > 0, or train.num_epochs >= 1 when num_steps is 0")


def write_results(workdir: str, result: dict[str, Any]) -> dict[str, Any]:
  """Writes a run's summary to ``workdir/results.json`` (the first process of a multi-process
  run only) and returns it."""
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
      json.dump(result, f, indent=1)
  return result


def one_line(error: BaseException) -> str:
  text = str(error).replace("\\n", " ").replace("\\'", "'")
  if len(text) > 1 and text[0] == text[-1] == "'":  # repr of a KeyError inside AttributeError
    text = text[1:-1]
  return " ".join(text.split())


def flags_parser(argv: list[str]) -> list[str]:
  """``app.run(main, flags_parser=flags_parser)``: a bad flag, an unknown ``--config.*`` key or
  a missing ``--config`` file prints ``error: ...`` on one line and exits with status 2."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except  (absl, config_flags, ConfigDict)
    sys.stderr.write(f"error: {type(e).__name__}: {one_line(e)}\n")
    sys.exit(2)


def check_or_exit(validate: Callable[[], None]) -> None:
  """Runs ``validate``; a bad value, path or config file becomes a one-line exit 2.

  (``config_flags`` reports a missing ``--config`` file on first access, so that lands here.)
  """
  try:
    validate()
  except (ValueError, OSError, KeyError, AttributeError) as e:
    sys.stderr.write(f"error: {one_line(e)}\n")
    sys.exit(2)


def define_train_flags(task: str) -> None:
  """``--config`` (a config file of the task) and ``--workdir``, both required."""
  config_flags.DEFINE_config_file("config", None, f"Path to a {task} config file.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
  flags.mark_flags_as_required(["config", "workdir"])


def train_main(trainer: Any) -> Callable[[list[str]], None]:
  """The ``main`` of a task whose module ``trainer`` has ``validate(config)`` and
  ``train_and_evaluate(config, workdir)`` (and optionally ``prepare_data(config)``, which reads
  the raw files once so that a malformed one stops with one line); run it with ``run(main)``."""

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO; progress is printed
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    tfds.disable_progress_bar()  # the trainers log what was prepared; bars only clutter logs
    check_or_exit(lambda: trainer.validate(flags.FLAGS.config))
    if hasattr(trainer, "prepare_data"):  # a malformed data file is a one-line error too
      check_or_exit(lambda: trainer.prepare_data(flags.FLAGS.config))
    trainer.train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)

  return main


def run(main: Callable[[list[str]], None]) -> None:
  app.run(main, flags_parser=flags_parser)
