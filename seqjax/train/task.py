"""What a task is: the named parts the one trainer (``seqjax.train.trainer``) calls.

A task is a small object. Subclass ``Task``, fill in the parts your experiment needs, and hand
an instance to ``train_and_evaluate(task, config, workdir)``; the trainer owns everything else
(state from ``jax.eval_shape``, sharding, restore, the loop, the best checkpoint,
``config.json``, ``results.json``).

Parts (``config`` is the run's ``ml_collections.ConfigDict``; ``meta`` the JSON-able metadata a
task saves with every checkpoint, e.g. a vocabulary, so that a resumed run, evaluation and
inference use the same ids):

- ``schema()``: the task's base config, every key with its default. Config keys are checked
  against it; ``validate(config)`` adds the task's own constraints.
- ``prepare(config)`` (optional): reads the raw files once, so a malformed one stops early.
- ``data(config, meta) -> Data``: the training batches, the evaluation splits and ``meta``
  (``meta`` is the saved one when resuming, else ``None``).
- ``model(config, meta, data)``: the Flax module (``data`` is ``None`` when restoring for
  inference); ``init_params(model, key, config, meta)``; ``initial_carry(model, params,
  batch_size, config)`` for tasks that carry recurrent state from batch to batch.
- ``loss(model, params, batch, *, key, carry, config) -> (objective, metrics, carry)``:
  the objective to differentiate, the metrics to log (``loss`` among them) and the new carry.
- ``init_model_state(model, key, config, meta)`` (optional): the model's variables that the
  optimizer does not train (batch normalisation's running statistics: ``{"batch_stats": ...}``),
  or ``None`` (the default). When it is not ``None``, ``loss`` is called with
  ``model_state=`` too and returns the new model state fourth; evaluation, ``report`` and
  ``restore`` hand the model ``{"params": params, **model_state}`` where they would hand it
  ``params`` (``seqjax.train.state.variables``).
- ``eval_step(model, params, batch, carry, config) -> (sums, carry)``: sums over one batch;
  ``finalize(sums, split, config) -> metrics`` turns a split's sums into metrics. Or override
  ``evaluate(run, params, split)`` wholesale (decoding, ranking).
- ``report(run, state, result)`` (optional): what happens at the end with the final state
  (decoding a test set, sampling, writing files); it adds to ``result``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Optional

import flax.linen as nn
import jax
import ml_collections
import optax

from seqjax.nn.rnn import RNNSpec
from seqjax.train import config as config_lib, optim


@dataclasses.dataclass
class Data:
  """What ``Task.data`` returns.

  Attributes:
    train: checkpointable, endless iterator of this process's rows of each training batch
      (``get_state``/``set_state``; ``seqjax.train.loop.Batches``).
    evals: split name -> its batches (an object with ``epoch_batches()``, one pass).
    meta: JSON-able metadata saved with every checkpoint (vocabularies, label names).
    steps_per_epoch: training steps in one epoch.
    example: one training batch as the iterator yields it (same keys, global rows), for
      shapes and shardings.
    summary: one line for the log describing the data.
    vocab_size: rows of the embedding that ``parallel.shard_vocab`` may shard (0: none).
    tokens_per_step: for the tokens/s of the progress line (0 hides it).
    extra: anything the task's parts share that is not saved (pretrained vectors, corpora).
  """
  train: Any
  evals: Mapping[str, Any]
  meta: dict
  steps_per_epoch: int
  example: Mapping[str, Any]
  summary: str = ""
  vocab_size: int = 0
  tokens_per_step: int = 0
  extra: dict = dataclasses.field(default_factory=dict)


class InputError(ValueError):
  """Bad input found while building a task's data (a malformed or mismatched file): the
  experiments' ``main`` reports it in one line and exits with status 2."""


@dataclasses.dataclass
class Run:
  """What the trainer built, handed to a task's ``evaluate`` and ``report``."""
  task: "Task"
  config: ml_collections.ConfigDict
  workdir: str
  data: Optional[Data]
  model: nn.Module
  parallel: Any  # seqjax.parallel.DataParallel
  log: Callable[[str], None]
  eval_step: Optional[Callable] = None  # the task's eval_step, jitted
  summary: dict = dataclasses.field(default_factory=dict)  # the loop's, at the end
  final: bool = False  # True while the best checkpoint scores the final splits


class Task:
  """Base class of every task; see the module docstring for the parts."""

  name: str = ""
  # The module of the task's base config: ``get_config()`` (every key, with defaults) and
  # ``CHECKS`` (the constraints of those keys).
  base_config: Any = None
  free_keys: tuple[str, ...] = ()  # config keys not checked by name
  # Config keys (or sections, ending in ".") a resumed run may change besides the trainer's
  # ``MAY_CHANGE_ON_RESUME``: evaluation-, decoding- or sampling-only settings.
  resume_free: tuple[str, ...] = ()
  # Config sections holding an ``RNNSpec`` (``seqjax.nn.rnn``): each is checked as one when the
  # config is, and its ``cell_options`` are free keys (each cell has its own).
  rnn_sections: tuple[str, ...] = ()
  carries_state: bool = False  # the carry flows from batch to batch (LM, session-parallel)
  best: tuple[str, str] = ("loss", "min")  # the metric that picks the best checkpoint
  score_last: bool = False  # score validation with the last state too (``validation_last``)

  # ---- configuration -------------------------------------------------------------------------
  def schema(self) -> ml_collections.ConfigDict:
    return self.base_config.get_config()

  def checks(self) -> Mapping[str, config_lib.Constraint]:
    """Value constraints by key, declared beside the keys (the base config's ``CHECKS``)."""
    return self.base_config.CHECKS if self.base_config is not None else {}

  def check(self, config: ml_collections.ConfigDict) -> None:
    """Every key known to the schema, every declared constraint (the task's and the shared
    optimizer keys'), then the task's cross-key checks (``validate``)."""
    config_lib.check_keys(config, self.schema(), free=self.free())
    config_lib.check_values(config, {**optim.CHECKS, **self.checks()})
    for section in self.rnn_sections:
      self.rnn(config, section)
    self.validate(config)

  def free(self) -> tuple[str, ...]:
    """Config prefixes whose keys are not checked by name (``free_keys`` and every RNN
    section's ``cell_options``)."""
    return self.free_keys + tuple(f"{s}.cell_options" for s in self.rnn_sections)

  def rnn(self, config: ml_collections.ConfigDict, section: str = "model.rnn") -> RNNSpec:
    """The ``RNNSpec`` of config section ``section`` (a ``ValueError`` naming the key when it
    cannot be one)."""
    node = config
    for part in section.split("."):
      node = node[part]
    return RNNSpec.from_config(node, where=section)

  def validate(self, config: ml_collections.ConfigDict) -> None:
    del config

  def prepare(self, config: ml_collections.ConfigDict) -> None:
    del config

  def best_metric(self, config: ml_collections.ConfigDict) -> tuple[str, str]:
    """``(metric, "min" | "max")``: the evaluation metric that picks the best checkpoint."""
    del config
    return self.best

  # ---- data and model ------------------------------------------------------------------------
  def data(self, config: ml_collections.ConfigDict, meta: Optional[dict]) -> Data:
    raise NotImplementedError

  def model(self, config: ml_collections.ConfigDict, meta: dict,
            data: Optional[Data] = None) -> nn.Module:
    raise NotImplementedError

  def init_params(self, model: nn.Module, key: jax.Array, config: ml_collections.ConfigDict,
                  meta: dict) -> Any:
    raise NotImplementedError

  def initial_carry(self, model: nn.Module, params: Any, batch_size: int,
                    config: ml_collections.ConfigDict) -> Any:
    del model, params, batch_size, config
    return None

  def init_model_state(self, model: nn.Module, key: jax.Array,
                       config: ml_collections.ConfigDict, meta: dict) -> Any:
    """Variables of the model that are not parameters (e.g. ``{"batch_stats": ...}``), or
    ``None``; see the module docstring."""
    del model, key, config, meta
    return None

  def optimizer(self, config: ml_collections.ConfigDict, steps_per_epoch: int,
                num_steps: int) -> optax.GradientTransformation:
    return optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps)

  def describe(self, config: ml_collections.ConfigDict, model: nn.Module) -> str:
    """The model part of the log line that counts parameters."""
    return type(model).__name__

  # ---- training ------------------------------------------------------------------------------
  def loss(self, model: nn.Module, params: Any, batch: dict, *, key: jax.Array, carry: Any,
           config: ml_collections.ConfigDict) -> tuple[jax.Array, dict, Any]:
    raise NotImplementedError

  def train_step(self, run: Run, optimizer: optax.GradientTransformation) -> Callable:
    """``train_step(state, batch) -> (state, metrics)`` (unjitted): by default the one step
    builder, ``seqjax.train.trainer.make_train_step``. A task overrides it only when its update
    is not an optax one (word2vec's sparse SGD) or to wrap it."""
    from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
    return trainer.make_train_step(self, run.model, optimizer, run.config)

  def wrap_step(self, run: Run, train_step: Callable) -> Callable:
    """Wraps the jitted train step (host-side work between steps: diagnostics)."""
    del run
    return train_step

  def derive(self, metrics: dict, config: ml_collections.ConfigDict) -> dict:
    """Metrics computed from a metric dict (perplexity from the mean NLL, ...)."""
    del metrics, config
    return {}

  # ---- evaluation ----------------------------------------------------------------------------
  def eval_step(self, model: nn.Module, params: Any, batch: dict, carry: Any,
                config: ml_collections.ConfigDict) -> tuple[dict, Any]:
    raise NotImplementedError

  def finalize(self, sums: dict, split: str, config: ml_collections.ConfigDict) -> dict:
    raise NotImplementedError

  def selection_split(self, run: Run) -> str:
    """The split evaluated during training (it picks the best checkpoint)."""
    del run
    return "validation"

  def evaluate(self, run: Run, params: Any, split: str) -> dict:
    """Scores of ``params`` on one pass over split ``split``: ``eval_step`` sums (float64 on
    the host) then ``finalize``."""
    from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
    return trainer.evaluate_split(run, params, split)

  def restore_best(self, run: Run) -> bool:
    """Whether the final splits are scored with the best checkpoint (else the last state)."""
    del run
    return True

  def final_splits(self, run: Run) -> Iterable[str]:
    """The splits scored with the best checkpoint at the end (``train.test_at_end``)."""
    return list(run.data.evals)

  def format_scores(self, run: Run, split: str, scores: dict, step: Any) -> str:
    del run
    shown = " ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float))
    return f"{split} (best checkpoint, step {step}): {shown}"

  def report(self, run: Run, state: Any, result: dict) -> None:
    del run, state, result
