"""word2vec training and evaluation: ``train_and_evaluate(config, workdir)``.

Every evaluation scores the held-out negative-sampling loss (fixed negatives, so evaluations
compare) and the analogy accuracy on morphological pairs derived from the corpus
(``seqjax.data.word2vec.suffix_analogies``); the best checkpoint is the one with the lowest
held-out loss. At the end its input vectors are written to ``workdir/vectors.txt`` in the
word2vec text format (``V D`` header, then ``word v_1 ... v_D``; the sentiment and tagging
experiments read it through ``data.pretrained_vectors``), and the nearest neighbours of the
probe words to ``workdir/neighbours.txt``. The trainer never reads flags (``main.py`` does).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from experiments.word2vec.configs import base
from seqjax.data import builders, classify, lm, word2vec as data_lib
from seqjax.data.vocab import Vocabulary
from seqjax.nn import word2vec as w2v
from seqjax.train import checkpoint, config as config_lib
from seqjax.train.loop import fit, print_flush
from seqjax.train.state import TrainState

DATASETS = ("ptb", "imdb")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError``/``FileNotFoundError`` naming the first bad config value."""
  config_lib.check_keys(config, base.get_config())
  d, m, t = config.data, config.model, config.train
  common.check_choices({"data.name": (d.name, DATASETS), "model.mode": (m.mode, data_lib.MODES)})
  common.check_positive_ints({
      "data.min_count": d.min_count, "data.window": d.window, "model.features": m.features,
      "model.negatives": m.negatives, "model.table_size": m.table_size,
      "train.batch_size": t.batch_size, "train.eval_batches": t.eval_batches,
      "train.log_every": t.log_every, "train.checkpoint_every": t.checkpoint_every,
      "eval.neighbours": config.eval.neighbours, "eval.analogy_top": config.eval.analogy_top,
      "eval.analogy_per_suffix": config.eval.analogy_per_suffix})
  common.check_num_steps(t)
  if d.sample < 0:
    raise ValueError(f"data.sample must be >= 0; got {d.sample!r}")
  if not 0.0 < d.validation_holdout < 1.0:
    raise ValueError(f"data.validation_holdout must be in (0, 1); got {d.validation_holdout!r}")
  if not t.learning_rate > 0 or not 0 <= t.final_learning_rate <= 1:
    raise ValueError(f"train.learning_rate must be > 0 and train.final_learning_rate in "
                     f"[0, 1]; got {t.learning_rate!r}, {t.final_learning_rate!r}")
  if d.manual_dir and not os.path.isdir(d.manual_dir):
    raise FileNotFoundError(f"data.manual_dir={d.manual_dir!r} is not a directory")


def read_sentences(config: ml_collections.ConfigDict) -> dict[str, list[list[str]]]:
  """Tokenized sentences of ``train`` and ``validation``."""
  d = config.data
  where = dict(data_dir=d.data_dir or None, manual_dir=d.manual_dir or None)
  if d.name == "ptb":
    builder = builders.prepare("ptb_word", builders.BUILDERS, **where)
    return {split: [line.split() for text in lm.read_split(builder, split)
                    for line in text.split("\n") if line.strip()]
            for split in ("train", "validation")}
  texts, _ = classify.read_split(classify.prepare("imdb", **where), "train")
  keep, held = classify.holdout(len(texts), d.validation_holdout, config.seed)
  tokenize = lambda text: classify.words(text.lower() if d.lowercase else text)
  return {"train": [tokenize(texts[i]) for i in keep],
          "validation": [tokenize(texts[i]) for i in held]}


def load_corpus(config: ml_collections.ConfigDict,
                saved: tuple[Vocabulary, np.ndarray] | None = None) -> data_lib.Corpus:
  vocab, counts = saved or (None, None)
  return data_lib.build_corpus(read_sentences(config), min_count=config.data.min_count,
                               max_size=config.data.max_vocab or None, vocab=vocab,
                               counts=counts)


def learning_rate(config: ml_collections.ConfigDict, step: jax.Array,
                  num_steps: int) -> jax.Array:
  """``word2vec.c``: ``lr * (1 - step / num_steps)``, floored at ``lr * final``."""
  t = config.train
  frac = 1.0 - step.astype(jnp.float32) / num_steps
  return t.learning_rate * jnp.maximum(frac, t.final_learning_rate)


def make_train_step(config: ml_collections.ConfigDict, table: np.ndarray,
                    num_steps: int) -> Callable:
  """``train_step(state, batch) -> (state, metrics)``: noise words from ``table``, sparse SGD."""
  table = jnp.asarray(table)
  k = config.model.negatives

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    batch = {key: v for key, v in batch.items() if key != "epoch"}
    key = jax.random.fold_in(state.key, state.step)
    slots = jax.random.randint(key, (batch["targets"].shape[0], k), 0, table.shape[0])
    lr = learning_rate(config, state.step, num_steps)
    params, loss = w2v.sparse_sgd_step(state.params, batch, table[slots], lr)
    return state.replace(step=state.step + 1, params=params), {"loss": loss,
                                                              "learning_rate": lr}

  return train_step


def make_eval_loss(config: ml_collections.ConfigDict, table: np.ndarray) -> Callable:
  """``eval_loss(params, batch, index) -> summed loss`` with negatives fixed by ``index``."""
  table = jnp.asarray(table)
  base_key = jax.random.PRNGKey(config.seed + 1)

  @jax.jit
  def eval_loss(params, batch, index):
    key = jax.random.fold_in(base_key, index)
    slots = jax.random.randint(key, (batch["targets"].shape[0], config.model.negatives), 0,
                               table.shape[0])
    return jnp.sum(w2v.loss(params, batch, table[slots]))

  return eval_loss


class Analogies:
  """The derived questions ``a : a' :: b : ?`` of every suffix and their 3CosAdd accuracy."""

  def __init__(self, config: ml_collections.ConfigDict, vocab: Vocabulary, chunk: int = 256):
    e = config.eval
    self.pairs = data_lib.suffix_analogies(vocab, top=e.analogy_top,
                                           per_suffix=e.analogy_per_suffix)
    self.questions = {}
    for suffix, pairs in self.pairs.items():
      ids = [(vocab.ids[a], vocab.ids[a2]) for a, a2 in pairs]
      q = [(a, a2, b, b2) for i, (a, a2) in enumerate(ids) for j, (b, b2) in enumerate(ids)
           if i != j]
      if q:
        self.questions[suffix] = np.asarray(q, np.int32)
    self.chunk = chunk
    self._top1 = jax.jit(lambda unit, a, a2, b: w2v.analogy(unit, a, a2, b, 1)[:, 0])

  def accuracy(self, params: dict) -> dict[str, float]:
    unit = w2v.normalized(params["input"])
    out, right, total = {}, 0, 0
    for suffix, q in self.questions.items():
      hits = 0
      for start in range(0, len(q), self.chunk):
        part = q[start:start + self.chunk]
        pad = np.pad(part, ((0, self.chunk - len(part)), (0, 0)), mode="edge")
        got = np.asarray(self._top1(unit, pad[:, 0], pad[:, 1], pad[:, 2]))[:len(part)]
        hits += int(np.sum(got == part[:, 3]))
      out[f"analogy_{suffix}"] = hits / len(q)
      right, total = right + hits, total + len(q)
    if total:  # a tiny corpus may have no derived pairs
      out["analogy"] = right / total
    return out


def neighbours(params: dict, vocab: Vocabulary, words: list[str], k: int) -> dict[str, list]:
  """``{word: [(neighbour, cosine), ...]}`` for the probe words in the vocabulary."""
  known = [w for w in words if w in vocab.ids]
  if not known:
    return {}
  unit = w2v.normalized(params["input"])
  ids = jnp.asarray([vocab.ids[w] for w in known])
  scores, top = w2v.nearest(unit, unit[ids], k, exclude=ids[:, None])
  return {w: [(vocab.tokens[int(i)], round(float(s), 4)) for i, s in zip(top[r], scores[r])]
          for r, w in enumerate(known)}


def write_vectors(path: str, vocab: Vocabulary, table: np.ndarray) -> None:
  """The word2vec text format: a ``V D`` header line, then ``word v_1 ... v_D`` per word."""
  with open(path, "w", encoding="utf-8") as f:
    f.write(f"{table.shape[0]} {table.shape[1]}\n")
    for word, row in zip(vocab.tokens, table):
      f.write(word + " " + " ".join(f"{x:.6f}" for x in row) + "\n")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print_flush) -> dict[str, Any]:
  """Trains, keeps the best checkpoint by held-out loss, exports its vectors. Returns a
  summary (also ``workdir/results.json``)."""
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  saved = checkpoint.resume_meta(workdir)
  vocab_counts = None
  if saved:
    vocab_counts = (Vocabulary.from_json(saved["vocab"]), np.asarray(saved["counts"]))
  corpus = load_corpus(config, vocab_counts)
  d, m, t = config.data, config.model, config.train
  sizes = ", ".join(f"{s} {len(ids):,} words" for s, (ids, _) in corpus.splits.items())
  log(f"{d.name}: vocabulary {len(corpus.vocab):,} words (min count {d.min_count}); {sizes} "
      "in the vocabulary")
  train_batches = data_lib.PairBatches(corpus, "train", t.batch_size, mode=m.mode,
                                       window=d.window, sample=d.sample, seed=config.seed)
  eval_batches = data_lib.PairBatches(corpus, "validation", t.batch_size, mode=m.mode,
                                      window=d.window, sample=0.0, seed=config.seed + 1)
  steps_per_epoch = len(train_batches)
  num_steps = t.num_steps or t.num_epochs * steps_per_epoch
  table = data_lib.noise_table(corpus.counts, m.noise_power, m.table_size)

  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  state = TrainState(step=jnp.asarray(0, jnp.int32),
                     params=w2v.init(init_key, len(corpus.vocab), m.features),
                     opt_state=jnp.zeros((), jnp.float32), key=train_key)
  log(f"model: {m.mode}, {m.features} dimensions, {m.negatives} negatives; "
      f"{2 * len(corpus.vocab) * m.features:,} parameters; ~{steps_per_epoch} steps per epoch "
      f"of {t.batch_size}, {num_steps} steps")
  train_step = jax.jit(make_train_step(config, table, num_steps), donate_argnums=0)
  eval_loss = make_eval_loss(config, table)
  analogies = Analogies(config, corpus.vocab)
  log("derived analogy pairs: " + "; ".join(
      f"-{s}: {len(p)} pairs ({', '.join('/'.join(x) for x in p[:3])}, ...)"
      for s, p in analogies.pairs.items()))

  def evaluate(state):
    total, n = 0.0, 0
    for k, batch in enumerate(eval_batches.epoch_batches(t.eval_batches)):
      total += float(eval_loss(state.params, batch, k))
      n += len(batch["targets"])
    return {"loss": total / n, **analogies.accuracy(state.params)}

  options = common.loop_options(t, num_steps, steps_per_epoch)
  meta = {"vocab": corpus.vocab.to_json(), "counts": corpus.counts.tolist(),
          "config": config.to_json()}
  state, summary = fit(state, train_step=train_step, batches=train_batches, options=options,
                       workdir=workdir, evaluate=evaluate, meta=meta, log=log)

  ckpt = checkpoint.Checkpointer(workdir)
  best, _, _ = ckpt.restore(state, which="best")
  ckpt.close()
  scores = evaluate(best)
  near = neighbours(best.params, corpus.vocab, list(config.eval.probe_words),
                    config.eval.neighbours)
  result = {"stopped": summary["stopped"], "best_step": summary["best_step"],
            "steps": int(state.step), "vocab_size": len(corpus.vocab), "validation": scores,
            "validation_last": evaluate(state),
            "neighbours": near, "analogy_pairs": analogies.pairs}
  if jax.process_index() == 0:
    write_vectors(os.path.join(workdir, "vectors.txt"), corpus.vocab,
                  np.asarray(best.params["input"]))
    with open(os.path.join(workdir, "neighbours.txt"), "w", encoding="utf-8") as f:
      for word, items in near.items():
        f.write(f"{word}: " + ", ".join(f"{w} ({s:.2f})" for w, s in items) + "\n")
  log(f"best checkpoint (step {summary['best_step']}): held-out loss {scores['loss']:.4f}, "
      f"analogy accuracy {scores.get('analogy', float('nan')):.3f} (" + ", ".join(
          f"-{s} {scores['analogy_' + s]:.3f}" for s in analogies.questions) + ")")
  for word, items in near.items():
    log(f"  {word}: " + ", ".join(w for w, _ in items))
  log(f"vectors: {os.path.join(workdir, 'vectors.txt')}")
  return common.write_results(workdir, result)
