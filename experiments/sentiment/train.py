"""Sentiment classification training and evaluation: ``train_and_evaluate(config, workdir)``.

The best checkpoint is the one with the highest validation accuracy; at the end validation and
(labelled) test are scored with it, and the last step's validation accuracy is reported too.
The trainer never reads flags (``main.py`` does), so tests call it directly.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from experiments.sentiment.configs import base
from seqjax import parallel
from seqjax.cells import CELLS
from seqjax.data import classify as data_lib
from seqjax.data import sentiment
from seqjax.data.vectors import load_vectors
from seqjax.data.vocab import Vocabulary
from seqjax.nn import classifier
from seqjax.train import checkpoint, classify as classify_train, config as config_lib, optim
from seqjax.train.loop import fit, print_flush
from seqjax.train.state import TrainState


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError``/``FileNotFoundError`` naming the first bad config value."""
  config_lib.check_keys(config, base.get_config(), free=("model.cell_options",))
  d, m, t = config.data, config.model, config.train
  choices = {"data.name": (d.name, sorted(sentiment.BUILDERS)),
             "data.tokenizer": (d.tokenizer, sorted(data_lib.TOKENIZERS)),
             "data.truncate": (d.truncate, data_lib.TRUNCATE),
             "model.kind": (m.kind, sorted(classifier.MODELS)),
             "model.cell": (m.cell, sorted(CELLS)),
             "model.pooling": (m.pooling, classifier.POOLINGS),
             "model.activation": (m.activation, sorted(classifier.ACTIVATIONS)),
             "model.reduce": (m.reduce, ("mean", "sum")),
             "optimizer.name": (config.optimizer.name, optim.OPTIMIZERS),
             "optimizer.schedule": (config.optimizer.schedule, optim.SCHEDULES)}
  common.check_choices(choices)
  positive = {"model.embed_size": m.embed_size, "model.hidden_size": m.hidden_size,
              "model.num_layers": m.num_layers, "model.num_filters": m.num_filters,
              "train.batch_size": t.batch_size, "train.eval_batch_size": t.eval_batch_size,
              "train.log_every": t.log_every, "train.checkpoint_every": t.checkpoint_every,
              "data.bucket_chunk": d.bucket_chunk, "data.pad_multiple": d.pad_multiple,
              "data.min_freq": d.min_freq}
  common.check_positive_ints(positive)
  for key in ("dropout_rate", "word_dropout_rate", "rnn_dropout_rate"):
    if not 0.0 <= m[key] < 1.0:
      raise ValueError(f"model.{key} must be in [0, 1); got {m[key]!r}")
  if not 0.0 <= d.validation_holdout < 1.0:
    raise ValueError(f"data.validation_holdout must be in [0, 1); got {d.validation_holdout!r}")
  if d.name == "imdb" and not d.validation_holdout:
    raise ValueError("data.validation_holdout must be > 0 for imdb (it has no validation "
                     "split); e.g. 0.1")
  if any(not isinstance(w, int) or w < 1 for w in m.filter_widths) or not m.filter_widths:
    raise ValueError(f"model.filter_widths must be positive ints; got {m.filter_widths!r}")
  if any(not isinstance(h, int) or h < 1 for h in m.mlp_hidden):
    raise ValueError(f"model.mlp_hidden must be positive ints; got {m.mlp_hidden!r}")
  common.check_num_steps(config.train)
  data_lib.TextOptions(d.tokenizer, d.lowercase, d.add_bos_eos, d.max_length, d.truncate)
  if d.manual_dir:
    if not os.path.isdir(d.manual_dir):
      raise FileNotFoundError(f"data.manual_dir={d.manual_dir!r} is not a directory")
    files = sentiment.BUILDERS[d.name][3]
    if files is not None:
      from seqjax.data.builders import find_local_files  # pylint: disable=g-import-not-at-top
      find_local_files(d.manual_dir, files)
  if d.pretrained_vectors and not os.path.isfile(d.pretrained_vectors):
    raise FileNotFoundError(f"data.pretrained_vectors={d.pretrained_vectors!r} is not a file")
  if m.freeze_embeddings and not d.pretrained_vectors:
    raise ValueError("model.freeze_embeddings needs data.pretrained_vectors")


def text_options(config: ml_collections.ConfigDict) -> data_lib.TextOptions:
  d = config.data
  return data_lib.TextOptions(d.tokenizer, d.lowercase, d.add_bos_eos, d.max_length, d.truncate)


def min_length(config: ml_collections.ConfigDict) -> int:
  """Batches are at least this wide (TextCNN's widest filter)."""
  return max(config.model.filter_widths) if config.model.kind == "cnn" else 1


def build_model(config: ml_collections.ConfigDict, vocab_size: int, num_classes: int,
                pretrained: np.ndarray | None = None):
  m = config.model
  shared = dict(num_classes=num_classes, vocab_size=vocab_size, embed_size=m.embed_size,
                word_dropout_rate=m.word_dropout_rate, unk_id=data_lib.UNK_ID,
                pretrained=pretrained, freeze_embeddings=m.freeze_embeddings)
  if m.kind == "rnn":
    return classifier.SequenceClassifier(
        cell=m.cell, hidden_size=m.hidden_size, num_layers=m.num_layers,
        bidirectional=m.bidirectional, cell_options=dict(m.cell_options),
        rnn_dropout_rate=m.rnn_dropout_rate, pooling=m.pooling, mlp_hidden=tuple(m.mlp_hidden),
        activation=m.activation, output_bias=m.output_bias, dropout_rate=m.dropout_rate,
        unroll=m.unroll, **shared)
  if m.kind == "cnn":
    return classifier.TextCNN(filter_widths=tuple(m.filter_widths), num_filters=m.num_filters,
                              dropout_rate=m.dropout_rate, **shared)
  return classifier.BagOfWords(mlp_hidden=tuple(m.mlp_hidden), activation=m.activation,
                                    reduce=m.reduce, dropout_rate=m.dropout_rate, **shared)


def load_data(config: ml_collections.ConfigDict, vocab: Vocabulary | None = None):
  d = config.data
  return data_lib.load_dataset(d.name, text_options(config), data_dir=d.data_dir or None,
                               manual_dir=d.manual_dir or None, vocab=vocab,
                               min_freq=d.min_freq, max_vocab=d.max_vocab or None,
                               validation_holdout=d.validation_holdout, seed=config.seed)


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int, num_steps: int):
  frozen = classifier.frozen_mask if config.model.freeze_embeddings else None
  return optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps, frozen=frozen)


def init_state(config: ml_collections.ConfigDict, model, optimizer) -> TrainState:
  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  width = max(min_length(config), 8)
  tokens = jnp.zeros((2, width), jnp.int32)
  params = model.init(init_key, tokens, jnp.full((2,), width, jnp.int32))["params"]
  return TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                    opt_state=optimizer.init(params), key=train_key)


def restore(workdir: str, which: str = "best"):
  """``(config, vocab, label_names, model, params)`` of a trained workdir (for prediction)."""
  meta, config = common.read_run(workdir, which)
  vocab = Vocabulary.from_json(meta["vocab"])
  label_names = meta["label_names"]
  model = build_model(config, len(vocab), len(label_names))
  optimizer = make_optimizer(config, 1, config.optimizer.warmup_steps + 2)
  params = common.restore_params(workdir, init_state(config, model, optimizer), which)
  return config, vocab, label_names, model, params


def _confusion_text(confusion: list[list[int]], names: list[str]) -> str:
  width = max(len(n) for n in names) + 2
  head = " " * width + "".join(f"{n[:10]:>12}" for n in names) + "   (rows: true, cols: predicted)"
  rows = [f"{n:<{width}}" + "".join(f"{v:>12d}" for v in row) for n, row in zip(names, confusion)]
  return "\n".join([head] + rows)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print_flush) -> dict[str, Any]:
  """Trains, keeps the best checkpoint by validation accuracy, then scores validation and
  labelled test splits with it. Returns a summary (also ``workdir/results.json``)."""
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  saved = checkpoint.resume_meta(workdir)
  vocab = Vocabulary.from_json(saved["vocab"]) if saved else None
  data = load_data(config, vocab)
  vocab, t, d = data.vocab, config.train, config.data
  sizes = ", ".join(f"{s} {len(x):,}" for s, x in data.splits.items())
  log(f"{d.name}: vocabulary {len(vocab):,}, {sizes} examples, {data.num_classes} classes")

  pretrained = None
  if d.pretrained_vectors:
    pretrained, found = load_vectors(d.pretrained_vectors, vocab, lowercase=d.lowercase_vectors,
                                     seed=config.seed)
    if pretrained.shape[1] != config.model.embed_size:
      raise ValueError(f"data.pretrained_vectors has {pretrained.shape[1]}-dim vectors but "
                       f"model.embed_size is {config.model.embed_size}")
    log(f"pretrained vectors: {found:,} of {len(vocab):,} words found")

  par = common.data_parallel(config, len(vocab), log=log)
  bucket = dict(bucket_chunk=d.bucket_chunk, pad_multiple=d.pad_multiple,
                min_length=min_length(config))
  train_batches = data_lib.Batches(data.splits["train"], t.batch_size, shuffle=True,
                                   seed=config.seed, shard=parallel.shard_options(), **bucket)
  eval_batches = {s: data_lib.Batches(split, t.eval_batch_size, shuffle=False, **bucket)
                  for s, split in data.splits.items() if s != "train" and split.labelled}
  steps_per_epoch = len(train_batches)
  num_steps = t.num_steps or t.num_epochs * steps_per_epoch

  model = build_model(config, len(vocab), data.num_classes, pretrained)
  optimizer = make_optimizer(config, steps_per_epoch, num_steps)
  state = par.put_state(init_state(config, model, optimizer))
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  log(f"model: {config.model.kind} ({model.__class__.__name__}), {n_params:,} parameters; "
      f"{steps_per_epoch} steps per epoch, {num_steps} steps")
  example = {**next(iter(train_batches.dataset(0))), "epoch": 0}
  train_step = par.jit_train_step(classify_train.make_train_step(model, optimizer), state,
                                  example, t.batch_size)
  eval_step = jax.jit(classify_train.make_eval_step(model, data.num_classes))

  def evaluate(state, split="validation"):
    place = lambda batch: par.place_eval(batch, None, t.eval_batch_size)[0]
    return classify_train.evaluate(eval_step, state.params, eval_batches[split].epoch_batches(),
                                   data.num_classes, place=place)

  options = common.loop_options(t, num_steps, steps_per_epoch, best_metric="accuracy",
                                best_mode="max")
  meta = {"vocab": vocab.to_json(), "config": config.to_json(), "label_names": data.label_names}
  state, summary = fit(state, train_step=train_step,
                       batches=par.batches(train_batches, t.batch_size), options=options,
                       workdir=workdir, evaluate=evaluate, meta=meta, log=log)

  result: dict[str, Any] = {"stopped": summary["stopped"], "best_step": summary["best_step"],
                            "steps": int(state.step), "steps_per_epoch": steps_per_epoch}
  last = evaluate(state)
  result["validation_last"] = last
  log(f"validation (last step {int(state.step)}): accuracy {last['accuracy']:.4f} "
      f"loss {last['loss']:.4f}")
  if t.test_at_end:
    ckpt = checkpoint.Checkpointer(workdir)
    best_state, _, _ = ckpt.restore(state, which="best")
    ckpt.close()
    for split in eval_batches:
      scores = evaluate(best_state, split)
      result[split] = scores
      log(f"{split} (best checkpoint, step {summary['best_step']}): accuracy "
          f"{scores['accuracy']:.4f} loss {scores['loss']:.4f} ({int(scores['count'])} "
          f"examples)\n{_confusion_text(scores['confusion'], data.label_names)}")
  return common.write_results(workdir, result)
