"""The tagging task: a tag per word (UPOS or XPOS on Universal Dependencies treebanks).

The loss is the mean cross-entropy over the batch's real words (``mask``: 0 at padding and in
filler rows). Evaluation sums over a split: ``loss`` (per word), ``accuracy`` (per word),
``oov_accuracy`` (words absent from training), ``sentence_accuracy`` (every word right) and
``confusion[true][predicted]``. The best checkpoint has the highest validation accuracy; at the
end every split is scored with it, with per-tag precision, recall and F1.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.tagging.configs import base
from seqjax import parallel
from seqjax.data import registry, tagging
from seqjax.data.vectors import pretrained_vectors
from seqjax.data.vocab import Vocabulary
from seqjax.nn import layers
from seqjax.nn.tagging import Tagger
from seqjax.train import optim
from seqjax.train.losses import token_nll
from seqjax.train.task import Data, Task


def _apply(model, params: Any, batch: dict, **kwargs: Any) -> jax.Array:
  return model.apply({"params": params}, batch["tokens"], batch["lengths"], batch.get("chars"),
                     batch.get("char_lengths"), **kwargs)


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


def predict(model, params: Any, batch: dict) -> np.ndarray:
  """Predicted tag ids ``[B, T]`` of one padded batch."""
  return np.asarray(jnp.argmax(_apply(model, params, batch), -1))


class TaggingTask(Task):
  name = "tagging"
  base_config = base
  rnn_sections = ("model.rnn",)
  best = ("accuracy", "max")
  score_last = True

  def validate(self, config):
    d, m = config.data, config.model
    registry.check_manual_dir(d.manual_dir, d.name)
    if d.pretrained_vectors and not os.path.isfile(d.pretrained_vectors):
      raise FileNotFoundError(f"data.pretrained_vectors={d.pretrained_vectors!r} is not a file")
    if m.freeze_embeddings and not d.pretrained_vectors:
      raise ValueError("model.freeze_embeddings needs data.pretrained_vectors")

  def prepare(self, config):
    """Prepares the TFDS builder (parsing the CoNLL-U files; cached afterwards)."""
    d = config.data
    registry.prepare(d.name, kind=registry.TAGGING, data_dir=d.data_dir or None,
                     manual_dir=d.manual_dir or None)

  def data(self, config, meta):
    d, t = config.data, config.train
    vocabs = None
    if meta:
      vocabs = (Vocabulary.from_json(meta["vocab"]), Vocabulary.from_json(meta["char_vocab"]),
                meta["tag_names"])
    loaded = tagging.load_dataset(d.name, tag_field=d.tag_field, data_dir=d.data_dir or None,
                                  manual_dir=d.manual_dir or None, lowercase=d.lowercase,
                                  min_freq=d.min_freq, max_word_length=d.max_word_length,
                                  vocabs=vocabs)
    sizes = ", ".join(f"{s} {len(x):,} sentences / {x.num_words:,} words"
                      for s, x in loaded.splits.items())
    summary = (f"{d.name} ({d.tag_field}): vocabulary {len(loaded.vocab):,} words, "
               f"{len(loaded.char_vocab):,} characters, {len(loaded.tag_names)} tags; {sizes}")
    bucket = dict(bucket_chunk=d.bucket_chunk, pad_multiple=d.pad_multiple)
    train = tagging.tag_batches(loaded.splits["train"], t.batch_size, shuffle=True,
                               seed=config.seed, shard=parallel.shard_options(), **bucket)
    evals = {s: tagging.tag_batches(split, t.eval_batch_size, shuffle=False, **bucket)
             for s, split in loaded.splits.items() if s != "train"}
    table, note = pretrained_vectors(config, loaded.vocab)
    meta = {"vocab": loaded.vocab.to_json(), "char_vocab": loaded.char_vocab.to_json(),
            "tag_names": loaded.tag_names}
    return Data(train=train, evals=evals, meta=meta, steps_per_epoch=len(train),
                example={**next(iter(train.dataset(0))), "epoch": 0}, summary=summary + note,
                vocab_size=len(loaded.vocab), extra={"pretrained": table})

  def model(self, config, meta, data=None):
    m = config.model
    return Tagger(num_tags=len(meta["tag_names"]), vocab_size=len(meta["vocab"]["tokens"]),
                  embed_size=m.embed_size, rnn=self.rnn(config),
                  char_vocab_size=len(meta["char_vocab"]["tokens"]) if m.char_encoder else 0,
                  char_embed_size=m.char_embed_size, char_hidden_size=m.char_hidden_size,
                  dropout_rate=m.dropout_rate, word_dropout_rate=m.word_dropout_rate,
                  unk_id=tagging.UNK_ID,
                  pretrained=data.extra["pretrained"] if data is not None else None,
                  freeze_embeddings=m.freeze_embeddings)

  def init_params(self, model, key, config, meta):
    tokens = jnp.zeros((2, 8), jnp.int32)
    chars = jnp.zeros((2, 8, 4), jnp.int32)
    return model.init(key, tokens, jnp.full((2,), 8, jnp.int32), chars,
                      jnp.ones((2, 8), jnp.int32))["params"]

  def optimizer(self, config, steps_per_epoch, num_steps):
    frozen = layers.frozen_mask if config.model.freeze_embeddings else None
    return optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps, frozen=frozen)

  def describe(self, config, model):
    return (f"BiRNN tagger ({config.model.rnn.cell}, char encoder "
            f"{'on' if config.model.char_encoder else 'off'})")

  def loss(self, model, params, batch, *, key, carry, config):
    mask = batch["mask"]
    count = jnp.maximum(jnp.sum(mask), 1.0)
    logits = _apply(model, params, batch, deterministic=False, rngs={"dropout": key})
    loss = jnp.sum(token_nll(logits, batch["tags"]) * mask) / count
    correct = jnp.sum((jnp.argmax(logits, -1) == batch["tags"]) * mask)
    return loss, {"loss": loss, "accuracy": correct / count}, None

  def eval_step(self, model, params, batch, carry, config):
    logits = _apply(model, params, batch)
    mask, tags = batch["mask"], batch["tags"]
    num_tags = logits.shape[-1]
    predicted = jnp.argmax(logits, -1)
    right = (predicted == tags) * mask
    oov = batch["unknown"] * mask
    wrong_words = jnp.sum(mask - right, axis=1)
    onehot = jax.nn.one_hot(tags, num_tags) * mask[..., None]
    confusion = jnp.einsum("btk,btj->kj", onehot, jax.nn.one_hot(predicted, num_tags))
    return {"nll": jnp.sum(token_nll(logits, tags) * mask), "words": jnp.sum(mask),
            "correct": jnp.sum(right), "oov": jnp.sum(oov), "oov_correct": jnp.sum(right * oov),
            "sentences": jnp.sum(batch["weights"]),
            "sentences_correct": jnp.sum((wrong_words == 0) * batch["weights"]),
            "confusion": confusion}, carry

  def finalize(self, sums, split, config):
    words = float(sums["words"])
    if words == 0:
      raise ValueError(f"evaluate: split {split!r} has no words")
    oov = float(sums["oov"])
    return {"loss": float(sums["nll"]) / words, "accuracy": float(sums["correct"]) / words,
            "oov_accuracy": float(sums["oov_correct"]) / oov if oov else float("nan"),
            "sentence_accuracy": float(sums["sentences_correct"]) / float(sums["sentences"]),
            "words": int(words), "oov_words": int(oov),
            "confusion": sums["confusion"].astype(int).tolist()}

  def evaluate(self, run, params, split):
    scores = super().evaluate(run, params, split)
    if run.final:  # the end: per-tag scores
      scores["per_tag"] = per_tag_scores(scores["confusion"], run.data.meta["tag_names"])
    else:  # 17 x 17 counts are too much for every evaluation's log line
      del scores["confusion"]
    return scores

  def format_scores(self, run, split, scores, step):
    worst = sorted(scores["per_tag"].items(), key=lambda kv: kv[1]["f1"])[:3]
    return (f"{split} (best checkpoint, step {step}): accuracy {scores['accuracy']:.4f} "
            f"({scores['words']:,} words), unknown words {scores['oov_accuracy']:.4f} "
            f"({scores['oov_words']:,}), whole sentences {scores['sentence_accuracy']:.4f}; "
            "lowest F1: " + ", ".join(f"{k} {v['f1']:.3f}" for k, v in worst))


TASK = TaggingTask()
