"""The sentiment task: many-to-one text classification (SST-2, SST, IMDB).

The loss is the mean softmax cross-entropy over the batch's real rows (``weights`` 1; filler
rows weigh 0). Evaluation sums over a whole split: ``loss`` (mean NLL), ``accuracy`` and the
confusion matrix ``confusion[true][predicted]``. The best checkpoint has the highest validation
accuracy; at the end every labelled split is scored with it, and validation with the last
state too (``validation_last``).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.sentiment.configs import base
from seqjax import parallel
from seqjax.data import sentiment as data_lib
from seqjax.data import registry
from seqjax.data.vectors import pretrained_vectors
from seqjax.data.vocab import Vocabulary
from seqjax.nn import layers, sentiment as models
from seqjax.train import optim
from seqjax.train.losses import example_nll
from seqjax.train.task import Data, Task


def text_options(config: ml_collections.ConfigDict) -> data_lib.TextOptions:
  d = config.data
  return data_lib.TextOptions(d.tokenizer, d.lowercase, d.add_bos_eos, d.max_length, d.truncate)


def min_length(config: ml_collections.ConfigDict) -> int:
  """Batches are at least this wide (TextCNN's widest filter)."""
  return max(config.model.filter_widths) if config.model.kind == "cnn" else 1


def confusion_text(confusion: list[list[int]], names: list[str]) -> str:
  width = max(len(n) for n in names) + 2
  head = " " * width + "".join(f"{n[:10]:>12}" for n in names) + "   (rows: true, cols: predicted)"
  rows = [f"{n:<{width}}" + "".join(f"{v:>12d}" for v in row) for n, row in zip(names, confusion)]
  return "\n".join([head] + rows)


class SentimentTask(Task):
  name = "sentiment"
  base_config = base
  rnn_sections = ("model.rnn",)
  best = ("accuracy", "max")
  score_last = True

  def validate(self, config):
    d, m = config.data, config.model
    if d.name == "imdb" and not d.validation_holdout:
      raise ValueError("data.validation_holdout must be > 0 for imdb (it has no validation "
                       "split); e.g. 0.1")
    text_options(config)
    registry.check_manual_dir(d.manual_dir, d.name)
    if d.pretrained_vectors and not os.path.isfile(d.pretrained_vectors):
      raise FileNotFoundError(f"data.pretrained_vectors={d.pretrained_vectors!r} is not a file")
    if m.freeze_embeddings and not d.pretrained_vectors:
      raise ValueError("model.freeze_embeddings needs data.pretrained_vectors")
    if m.channels == 2 and (m.kind != "cnn" or not d.pretrained_vectors):
      raise ValueError("model.channels=2 (multichannel) needs model.kind='cnn' and "
                       "data.pretrained_vectors")
    if m.max_norm and m.kind != "cnn":
      raise ValueError("model.max_norm constrains the CNN's output layer; it needs "
                       "model.kind='cnn'")

  def data(self, config, meta):
    d, t = config.data, config.train
    vocab = Vocabulary.from_json(meta["vocab"]) if meta else None
    loaded = data_lib.load_dataset(d.name, text_options(config), data_dir=d.data_dir or None,
                                   manual_dir=d.manual_dir or None, vocab=vocab,
                                   min_freq=d.min_freq, max_vocab=d.max_vocab or None,
                                   validation_holdout=d.validation_holdout, seed=config.seed)
    sizes = ", ".join(f"{s} {len(x):,}" for s, x in loaded.splits.items())
    summary = (f"{d.name}: vocabulary {len(loaded.vocab):,}, {sizes} examples, "
               f"{loaded.num_classes} classes")
    bucket = dict(bucket_chunk=d.bucket_chunk, pad_multiple=d.pad_multiple,
                  min_length=min_length(config))
    train = data_lib.text_batches(loaded.splits["train"], t.batch_size, shuffle=True,
                             seed=config.seed, shard=parallel.shard_options(), **bucket)
    evals = {s: data_lib.text_batches(split, t.eval_batch_size, shuffle=False, **bucket)
             for s, split in loaded.splits.items() if s != "train" and split.labelled}
    table, note = pretrained_vectors(config, loaded.vocab)
    return Data(train=train, evals=evals,
                meta={"vocab": loaded.vocab.to_json(), "label_names": loaded.label_names},
                steps_per_epoch=len(train), example={**next(iter(train.dataset(0))), "epoch": 0},
                summary=summary + note, vocab_size=len(loaded.vocab),
                extra={"pretrained": table})

  def model(self, config, meta, data=None):
    m = config.model
    shared = dict(num_classes=len(meta["label_names"]), vocab_size=len(meta["vocab"]["tokens"]),
                  embed_size=m.embed_size, word_dropout_rate=m.word_dropout_rate,
                  unk_id=data_lib.UNK_ID,
                  pretrained=data.extra["pretrained"] if data is not None else None,
                  freeze_embeddings=m.freeze_embeddings)
    if m.kind == "rnn":
      return models.SequenceClassifier(
          rnn=self.rnn(config), pooling=m.pooling, mlp_hidden=tuple(m.mlp_hidden),
          activation=m.activation, output_bias=m.output_bias, dropout_rate=m.dropout_rate,
          **shared)
    if m.kind == "cnn":
      return models.TextCNN(filter_widths=tuple(m.filter_widths), num_filters=m.num_filters,
                            channels=m.channels, dropout_rate=m.dropout_rate, **shared)
    return models.BagOfWords(mlp_hidden=tuple(m.mlp_hidden), activation=m.activation,
                             reduce=m.reduce, dropout_rate=m.dropout_rate, **shared)

  def init_params(self, model, key, config, meta):
    width = max(min_length(config), 8)
    tokens = jnp.zeros((2, width), jnp.int32)
    return model.init(key, tokens, jnp.full((2,), width, jnp.int32))["params"]

  def optimizer(self, config, steps_per_epoch, num_steps):
    m = config.model
    if m.freeze_embeddings:
      frozen = layers.frozen_mask
    elif m.kind == "cnn" and m.channels == 2:  # multichannel: the static channel stays put
      frozen = lambda params: layers.frozen_mask(params, scopes=("embed_static",))
    else:
      frozen = None
    last = optim.max_norm(m.max_norm, "output") if m.max_norm else None
    return optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps, frozen=frozen,
                                last=last)

  def describe(self, config, model):
    return f"{config.model.kind} ({type(model).__name__})"

  def loss(self, model, params, batch, *, key, carry, config):
    weights = batch["weights"]
    count = jnp.maximum(jnp.sum(weights), 1.0)
    logits = model.apply({"params": params}, batch["tokens"], batch["lengths"],
                         deterministic=False, rngs={"dropout": key})
    loss = jnp.sum(example_nll(logits, batch["labels"]) * weights) / count
    correct = jnp.sum((jnp.argmax(logits, -1) == batch["labels"]) * weights)
    return loss, {"loss": loss, "accuracy": correct / count}, None

  def eval_step(self, model, params, batch, carry, config):
    logits = model.apply({"params": params}, batch["tokens"], batch["lengths"])
    weights = batch["weights"]
    classes = logits.shape[-1]
    onehot = jax.nn.one_hot(batch["labels"], classes) * weights[:, None]
    confusion = onehot.T @ jax.nn.one_hot(jnp.argmax(logits, -1), classes)
    return {"nll": jnp.sum(example_nll(logits, batch["labels"]) * weights),
            "confusion": confusion, "count": jnp.sum(weights)}, carry

  def finalize(self, sums, split, config):
    count = float(sums["count"])
    if count == 0:
      raise ValueError(f"evaluate: split {split!r} has no examples")
    confusion = sums["confusion"]
    return {"loss": float(sums["nll"]) / count, "accuracy": float(np.trace(confusion)) / count,
            "count": count, "confusion": confusion.astype(int).tolist()}

  def format_scores(self, run, split, scores, step):
    names = run.data.meta["label_names"]
    return (f"{split} (best checkpoint, step {step}): accuracy {scores['accuracy']:.4f} loss "
            f"{scores['loss']:.4f} ({int(scores['count'])} examples)\n"
            f"{confusion_text(scores['confusion'], names)}")


def predict(model, params: Any, batch: dict) -> tuple[np.ndarray, np.ndarray]:
  """``(predicted class [B], class probabilities [B, C])`` of one padded batch."""
  logits = model.apply({"params": params}, batch["tokens"], batch["lengths"])
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return np.asarray(jnp.argmax(logits, -1)), np.asarray(probs)


TASK = SentimentTask()
