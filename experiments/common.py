"""What every experiment shares: the loop, optimizer and parallel config sections, and the
``main.py`` entry point with one-line errors for bad flags and configs."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Callable

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags


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


def rnn_section(**defaults: Any) -> ml_collections.ConfigDict:
  """``config.model.rnn``: every field of ``seqjax.nn.rnn.RNNSpec`` (the recurrent part of the
  model), with ``defaults`` overriding the shared defaults. ``Task.check`` checks the section as
  one spec, so every option works in every task that has one."""
  c = ml_collections.ConfigDict()
  c.cell = "lstm"  # a name in seqjax.cells.CELLS: rnn | lstm | gru | mingru | minlstm | lru
  c.cell_options = ml_collections.ConfigDict()  # keyword options of the cell's init
  c.hidden_size = 128  # per direction
  c.num_layers = 1
  c.bidirectional = False
  c.merge = "concat"  # concat | sum: how a bidirectional layer joins its directions
  c.dropout_rate = 0.0  # between stacked layers
  c.residual = False
  c.init_scale = 0.0  # > 0: every weight U(±init_scale); 0: each cell's defaults
  c.locked_dropout = False  # dropout masks shared across the steps of a sequence
  c.state_dropout = 0.0  # variational dropout on the recurrent connections
  c.zoneout = 0.0
  c.weight_drop = 0.0  # DropConnect on the recurrent matrices
  c.backend = "auto"  # auto | scan | associative (mingru / minlstm / lru) | fused | cudnn
  c.compute_dtype = ""  # "bfloat16": bf16 matmuls, float32 carry (the fused kernels)
  c.unroll = 1  # scan steps per loop iteration
  c.remat = False  # recompute each step in the backward pass
  for key, value in defaults.items():
    c[key] = ml_collections.ConfigDict(value) if isinstance(value, dict) else value
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


def fail(message: str, code: int = 2) -> None:
  """Prints ``error: message`` on one line to stderr and exits with ``code``."""
  sys.stderr.write(f"error: {' '.join(message.split())}\n")
  sys.exit(code)


def _user_errors() -> tuple[type, ...]:
  from seqjax.train.checkpoint import CheckpointError  # pylint: disable=g-import-not-at-top
  from seqjax.train.task import InputError  # pylint: disable=g-import-not-at-top
  return (InputError, CheckpointError)


def guard(main: Callable[[list[str]], None],
          errors: tuple[type, ...] = (ValueError, OSError, KeyError)
          ) -> Callable[[list[str]], None]:
  """The one wrapper of every CLI's ``main`` (``run`` applies it): what a user can cause ends in
  one line on stderr, never a traceback.

  - ``InputError``, ``CheckpointError`` and ``errors`` (a bad value, file or workdir): ``error:
    ...``, exit 2;
  - ``FloatingPointError`` (training diverged; the message names the step and the last good
    checkpoint): exit 1;
  - SIGINT / SIGTERM (``seqjax.train.loop.Interrupted`` from the training loop, after it saved;
    ``KeyboardInterrupt`` elsewhere): ``stopped: ...``, exit 130 / 143.

  SIGTERM is turned into the same interruption as SIGINT while ``main`` runs, so that a
  cluster's preemption notice also ends in one line.
  """
  from seqjax.train.loop import Interrupted, signal_name  # pylint: disable=g-import-not-at-top

  def on_sigterm(signum, frame):
    del frame
    raise Interrupted(signum, None, f"{signal_name(signum)} received")

  def wrapped(argv):
    if threading.current_thread() is threading.main_thread():
      signal.signal(signal.SIGTERM, on_sigterm)
    try:
      return main(argv)
    except Interrupted as e:
      sys.stderr.write(f"stopped: {one_line(e)}\n")
      sys.exit(e.exit_code)
    except KeyboardInterrupt:
      sys.stderr.write("stopped: SIGINT received\n")
      sys.exit(130)
    except FloatingPointError as e:
      fail(one_line(e), 1)
    except _user_errors() + tuple(errors) as e:
      fail(one_line(e))

  wrapped.__name__ = getattr(main, "__name__", "main")
  wrapped.__doc__ = main.__doc__
  return wrapped


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
  """``--config`` (a config file of the task) and ``--workdir``, both required, and
  ``--allow_config_change``; they are the calling module's key flags, so ``--help`` lists them
  (``train_main`` adds the config's keys to ``--config``'s help)."""
  config_flags.DEFINE_config_file("config", None, f"Path to a {task} config file.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
  flags.DEFINE_bool("allow_config_change", False,
                    "Resume a workdir although the config differs from the one its checkpoint "
                    "was trained with in keys that shape the model, the data or the "
                    "optimisation (deliberate fine-tuning); the differences are logged.")
  flags.DEFINE_enum("mode", "train", ["train", "eval"],
                    "train: train (or resume) in --workdir, then score the final splits; eval: "
                    "score a checkpoint of a trained --workdir (--checkpoint, --split) and write "
                    "workdir/eval_<checkpoint>.json.")
  flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "--mode=eval: which checkpoint.")
  flags.DEFINE_list("split", [], "--mode=eval: the splits to score (default: every evaluation "
                    "split); --config.data.manual_dir=DIR scores the data of another directory.")
  flags.mark_flags_as_required(["config", "workdir"])
  caller = sys._getframe(1).f_globals.get("__name__", "__main__")  # pylint: disable=protected-access
  if caller == "__main__":  # absl names the main module by its path (``--help`` lists its flags)
    caller = sys.argv[0]
  for name in ("config", "workdir", "allow_config_change", "mode", "checkpoint", "split"):
    flags.FLAGS.register_key_flag_for_module(caller, flags.FLAGS[name])


def config_keys_help(*tasks: Any) -> str:
  """Every key of the tasks' base configs with its default, one per line (for ``--help``)."""
  from seqjax.train import config as config_lib  # pylint: disable=g-import-not-at-top
  lines = []
  for task in tasks:
    if len(tasks) > 1:
      lines.append(f"  [{task.name}]")
    lines += [f"    {key} = {value!r}"
              for key, value in config_lib.leaves(task.schema(), keep_empty=True).items()]
  return ("\nConfig keys, with their defaults (set any with --config.KEY=VALUE):\n" +
          "\n".join(lines))


def document_config(*tasks: Any) -> None:
  """Appends the config keys of ``tasks`` to ``--config``'s help."""
  flag = flags.FLAGS["config"]
  flag.help = flag.help.split("\nConfig keys")[0] + config_keys_help(*tasks)


def train_main(task: Any) -> Callable[[list[str]], None]:
  """The ``main`` of an experiment whose ``task.py`` defines ``task`` (a
  ``seqjax.train.task.Task``): the config is checked, the raw data prepared (a malformed file
  is a one-line error), then ``seqjax.train.trainer.train_and_evaluate`` runs. Run it with
  ``run(main)``."""

  if "config" in flags.FLAGS:
    document_config(task)

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO; progress is printed
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    tfds.disable_progress_bar()  # the trainers log what was prepared; bars only clutter logs
    from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
    config = flags.FLAGS.config
    check_or_exit(lambda: (task.check(config),
                           trainer.check_loop(config.train, config.get("optimizer"))))
    if "mode" in flags.FLAGS and flags.FLAGS.mode == "eval":
      from seqjax.train.checkpoint import CheckpointError  # pylint: disable=g-import-not-at-top
      from seqjax.train.task import InputError  # pylint: disable=g-import-not-at-top
      try:
        trainer.evaluate_checkpoint(task, flags.FLAGS.workdir, config,
                                    which=flags.FLAGS.checkpoint, splits=flags.FLAGS.split)
      except (ValueError, FileNotFoundError, CheckpointError, InputError) as e:
        fail(one_line(e))
      return
    check_or_exit(lambda: task.prepare(config))
    trainer.train_and_evaluate(task, config, flags.FLAGS.workdir,
                               allow_config_change=flags.FLAGS.allow_config_change)

  # Only errors the trainer classifies as the user's (``InputError``, ``CheckpointError``) are
  # one line: any other exception in training is a bug, and its traceback is kept.
  main.guard_errors = ()
  return main


def run(main: Callable[[list[str]], None]) -> None:
  """``app.run`` with one-line flag errors (``flags_parser``) and ``guard``."""
  app.run(guard(main, getattr(main, "guard_errors", (ValueError, OSError, KeyError))),
          flags_parser=flags_parser)
