"""Part-of-speech tagging training and evaluation: ``train_and_evaluate(config, workdir)``.

The best checkpoint is the one with the highest validation word accuracy; at the end validation
and test are scored with it (word accuracy, out-of-vocabulary accuracy, whole-sentence
accuracy, per-tag precision/recall from the confusion matrix). The trainer never reads flags
(``main.py`` does), so tests call it directly.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from experiments.tagging.configs import base
from seqjax import parallel
from seqjax.cells import CELLS
from seqjax.data import builders, conllu, tagging
from seqjax.data.vectors import load_vectors
from seqjax.data.vocab import Vocabulary
from seqjax.nn import classifier
from seqjax.nn.tagger import Tagger
from seqjax.train import checkpoint, config as config_lib, optim, tagging as tagging_train
from seqjax.train.loop import fit, print_flush
from seqjax.train.state import TrainState


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError``/``FileNotFoundError`` naming the first bad config value."""
  config_lib.check_keys(config, base.get_config(), free=("model.cell_options",))
  d, m, t = config.data, config.model, config.train
  common.check_choices({"data.name": (d.name, sorted(conllu.BUILDERS)),
                        "data.tag_field": (d.tag_field, tagging.TAG_FIELDS),
                        "model.cell": (m.cell, sorted(CELLS)),
                        "optimizer.name": (config.optimizer.name, optim.OPTIMIZERS),
                        "optimizer.schedule": (config.optimizer.schedule, optim.SCHEDULES)})
  common.check_positive_ints({
      "model.embed_size": m.embed_size, "model.hidden_size": m.hidden_size,
      "model.num_layers": m.num_layers, "model.char_embed_size": m.char_embed_size,
      "model.char_hidden_size": m.char_hidden_size, "train.batch_size": t.batch_size,
      "train.eval_batch_size": t.eval_batch_size, "train.log_every": t.log_every,
      "train.checkpoint_every": t.checkpoint_every, "data.bucket_chunk": d.bucket_chunk,
      "data.pad_multiple": d.pad_multiple, "data.min_freq": d.min_freq,
      "data.max_word_length": d.max_word_length})
  for key in ("dropout_rate", "word_dropout_rate", "rnn_dropout_rate"):
    if not 0.0 <= m[key] < 1.0:
      raise ValueError(f"model.{key} must be in [0, 1); got {m[key]!r}")
  common.check_num_steps(t)
  if d.manual_dir:
    if not os.path.isdir(d.manual_dir):
      raise FileNotFoundError(f"data.manual_dir={d.manual_dir!r} is not a directory")
    builders.find_local_files(d.manual_dir, conllu.BUILDERS[d.name][2])
  if d.pretrained_vectors and not os.path.isfile(d.pretrained_vectors):
    raise FileNotFoundError(f"data.pretrained_vectors={d.pretrained_vectors!r} is not a file")
  if m.freeze_embeddings and not d.pretrained_vectors:
    raise ValueError("model.freeze_embeddings needs data.pretrained_vectors")


def prepare_data(config: ml_collections.ConfigDict) -> None:
  """Prepares the TFDS builder (parsing the CoNLL-U files; cached afterwards)."""
  d = config.data
  builders.prepare(d.name, conllu.BUILDERS, data_dir=d.data_dir or None,
                   manual_dir=d.manual_dir or None)


def load_data(config: ml_collections.ConfigDict, vocabs: tuple | None = None):
  d = config.data
  return tagging.load_dataset(d.name, tag_field=d.tag_field, data_dir=d.data_dir or None,
                              manual_dir=d.manual_dir or None, lowercase=d.lowercase,
                              min_freq=d.min_freq, max_word_length=d.max_word_length,
                              vocabs=vocabs)


def build_model(config: ml_collections.ConfigDict, vocab_size: int, char_vocab_size: int,
                num_tags: int, pretrained: np.ndarray | None = None) -> Tagger:
  m = config.model
  return Tagger(num_tags=num_tags, vocab_size=vocab_size, embed_size=m.embed_size,
                cell=m.cell, hidden_size=m.hidden_size, num_layers=m.num_layers,
                cell_options=dict(m.cell_options), rnn_dropout_rate=m.rnn_dropout_rate,
                char_vocab_size=char_vocab_size if m.char_encoder else 0,
                char_embed_size=m.char_embed_size, char_hidden_size=m.char_hidden_size,
                dropout_rate=m.dropout_rate, word_dropout_rate=m.word_dropout_rate,
                unk_id=tagging.UNK_ID, pretrained=pretrained,
                freeze_embeddings=m.freeze_embeddings)


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int, num_steps: int):
  frozen = classifier.frozen_mask if config.model.freeze_embeddings else None
  return optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps, frozen=frozen)


def init_state(config: ml_collections.ConfigDict, model: Tagger, optimizer) -> TrainState:
  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  tokens = jnp.zeros((2, 8), jnp.int32)
  chars = jnp.zeros((2, 8, 4), jnp.int32)
  params = model.init(init_key, tokens, jnp.full((2,), 8, jnp.int32), chars,
                      jnp.ones((2, 8), jnp.int32))["params"]
  return TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                    opt_state=optimizer.init(params), key=train_key)


def restore(workdir: str, which: str = "best"):
  """``(config, vocab, char_vocab, tag_names, model, params)`` of a trained workdir."""
  meta, config = common.read_run(workdir, which)
  vocab, chars = Vocabulary.from_json(meta["vocab"]), Vocabulary.from_json(meta["char_vocab"])
  tag_names = meta["tag_names"]
  model = build_model(config, len(vocab), len(chars), len(tag_names))
  optimizer = make_optimizer(config, 1, config.optimizer.warmup_steps + 2)
  params = common.restore_params(workdir, init_state(config, model, optimizer), which)
  return config, vocab, chars, tag_names, model, params


def per_tag_scores(confusion: list[list[int]], names: list[str]) -> dict[str, dict[str, float]]:
  """``{tag: {precision, recall, f1, support}}`` from ``confusion[true][predicted]``."""
  c = np.asarray(confusion, np.float64)
  out = {}
  for k, name in enumerate(names):
    tp, predicted, support = c[k, k], c[:, k].sum(), c[k, :].sum()
    p = tp / predicted if predicted else 0.0
    r = tp / support if support else 0.0
    out[name] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
                 "support": int(support)}
  return out


def _scores_text(split: str, scores: dict[str, Any], step: Any) -> str:
  return (f"{split} (best checkpoint, step {step}): accuracy {scores['accuracy']:.4f} "
          f"({scores['words']:,} words), unknown words {scores['oov_accuracy']:.4f} "
          f"({scores['oov_words']:,}), whole sentences {scores['sentence_accuracy']:.4f}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print_flush) -> dict[str, Any]:
  """Trains, keeps the best checkpoint by validation accuracy, then scores validation and
  test with it. Returns a summary (also ``workdir/results.json``)."""
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  saved = checkpoint.resume_meta(workdir)
  vocabs = None
  if saved:
    vocabs = (Vocabulary.from_json(saved["vocab"]), Vocabulary.from_json(saved["char_vocab"]),
              saved["tag_names"])
  data = load_data(config, vocabs)
  t, d = config.train, config.data
  sizes = ", ".join(f"{s} {len(x):,} sentences / {x.num_words:,} words"
                    for s, x in data.splits.items())
  log(f"{d.name} ({d.tag_field}): vocabulary {len(data.vocab):,} words, "
      f"{len(data.char_vocab):,} characters, {len(data.tag_names)} tags; {sizes}")

  pretrained = None
  if d.pretrained_vectors:
    pretrained, found = load_vectors(d.pretrained_vectors, data.vocab,
                                     lowercase=d.lowercase_vectors, seed=config.seed)
    if pretrained.shape[1] != config.model.embed_size:
      raise ValueError(f"data.pretrained_vectors has {pretrained.shape[1]}-dim vectors but "
                       f"model.embed_size is {config.model.embed_size}")
    log(f"pretrained vectors: {found:,} of {len(data.vocab):,} words found")

  par = common.data_parallel(config, len(data.vocab), log=log)
  bucket = dict(bucket_chunk=d.bucket_chunk, pad_multiple=d.pad_multiple)
  train_batches = tagging.TagBatches(data.splits["train"], t.batch_size, shuffle=True,
                                     seed=config.seed, shard=parallel.shard_options(), **bucket)
  eval_batches = {s: tagging.TagBatches(split, t.eval_batch_size, shuffle=False, **bucket)
                  for s, split in data.splits.items() if s != "train"}
  steps_per_epoch = len(train_batches)
  num_steps = t.num_steps or t.num_epochs * steps_per_epoch

  model = build_model(config, len(data.vocab), len(data.char_vocab), len(data.tag_names),
                      pretrained)
  optimizer = make_optimizer(config, steps_per_epoch, num_steps)
  state = par.put_state(init_state(config, model, optimizer))
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  log(f"model: BiRNN tagger ({config.model.cell}, char encoder "
      f"{'on' if config.model.char_encoder else 'off'}), {n_params:,} parameters; "
      f"{steps_per_epoch} steps per epoch, {num_steps} steps")
  example = {**next(iter(train_batches.dataset(0))), "epoch": 0}
  train_step = par.jit_train_step(tagging_train.make_train_step(model, optimizer), state,
                                  example, t.batch_size)
  eval_step = jax.jit(tagging_train.make_eval_step(model, len(data.tag_names)))

  def evaluate(state, split="validation", confusion=False):
    place = lambda batch: par.place_eval(batch, None, t.eval_batch_size)[0]
    scores = tagging_train.evaluate(eval_step, state.params,
                                    eval_batches[split].epoch_batches(), place=place)
    if not confusion:  # 17 x 17 counts are too much for every evaluation's log line
      del scores["confusion"]
    return scores

  options = common.loop_options(t, num_steps, steps_per_epoch, best_metric="accuracy",
                                best_mode="max")
  meta = {"vocab": data.vocab.to_json(), "char_vocab": data.char_vocab.to_json(),
          "tag_names": data.tag_names, "config": config.to_json()}
  state, summary = fit(state, train_step=train_step,
                       batches=par.batches(train_batches, t.batch_size), options=options,
                       workdir=workdir, evaluate=evaluate, meta=meta, log=log)

  result: dict[str, Any] = {"stopped": summary["stopped"], "best_step": summary["best_step"],
                            "steps": int(state.step), "steps_per_epoch": steps_per_epoch,
                            "tag_names": data.tag_names}
  last = evaluate(state)
  result["validation_last"] = last
  log(f"validation (last step {int(state.step)}): accuracy {last['accuracy']:.4f}")
  if t.test_at_end:
    ckpt = checkpoint.Checkpointer(workdir)
    best_state, _, _ = ckpt.restore(state, which="best")
    ckpt.close()
    for split in eval_batches:
      scores = evaluate(best_state, split, confusion=True)
      scores["per_tag"] = per_tag_scores(scores["confusion"], data.tag_names)
      result[split] = scores
      worst = sorted(scores["per_tag"].items(), key=lambda kv: kv[1]["f1"])[:3]
      log(_scores_text(split, scores, summary["best_step"]) + "; lowest F1: " +
          ", ".join(f"{k} {v['f1']:.3f}" for k, v in worst))
  return common.write_results(workdir, result)
