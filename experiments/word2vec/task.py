"""The word2vec task: skip-gram or CBOW with negative sampling, trained by sparse SGD.

Every evaluation scores the held-out negative-sampling loss (fixed negatives, so evaluations
compare) and the analogy accuracy on morphological pairs derived from the corpus
(``seqjax.data.word2vec.suffix_analogies``); the best checkpoint is the one with the lowest
held-out loss. At the end its input vectors are written to ``workdir/vectors.txt`` in the
word2vec text format (``V D`` header, then ``word v_1 ... v_D``; the sentiment and tagging
experiments read it through ``data.pretrained_vectors``), and the nearest neighbours of the
probe words to ``workdir/neighbours.txt``.

The update is not an optax one: only the rows a batch touches move (``seqjax.nn.word2vec.
sparse_sgd_step``), with ``word2vec.c``'s linearly decaying learning rate, so the task supplies
its own ``train_step`` (the trainer still owns everything around it).
"""

from __future__ import annotations

import os
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.word2vec.configs import base
from seqjax.data import builders, lm, registry, sentiment, word2vec as data_lib
from seqjax.data.vocab import Vocabulary
from seqjax.nn import word2vec as w2v
import optax

from seqjax.train import trainer
from seqjax.train.state import TrainState
from seqjax.train.task import Data, Task

DATASETS = base.DATASETS


def read_sentences(config: ml_collections.ConfigDict) -> dict[str, list[list[str]]]:
  """Tokenized sentences of ``train`` and ``validation``."""
  d = config.data
  where = dict(data_dir=d.data_dir or None, manual_dir=d.manual_dir or None)
  if d.name == "ptb":
    builder = registry.prepare("ptb_word", kind=registry.LM, **where)
    return {split: [line.split() for text in lm.read_split(builder, split)
                    for line in text.split("\n") if line.strip()]
            for split in ("train", "validation")}
  texts, _ = sentiment.read_split(sentiment.prepare("imdb", **where), "train")
  keep, held = sentiment.holdout(len(texts), d.validation_holdout, config.seed)
  tokenize = lambda text: sentiment.words(text.lower() if d.lowercase else text)
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


def _no_optimizer() -> optax.GradientTransformation:
  """The state slot of a run without optax: a float32 scalar that never changes."""
  return optax.GradientTransformation(lambda params: jnp.zeros((), jnp.float32),
                                      lambda updates, state, params=None: (updates, state))


class Word2VecTask(Task):
  name = "word2vec"
  base_config = base
  score_last = True

  def validate(self, config):
    d, t = config.data, config.train
    if not 0.0 < d.validation_holdout < 1.0:
      raise ValueError(f"data.validation_holdout must be in (0, 1); got {d.validation_holdout!r}")
    if not t.learning_rate > 0 or not 0 <= t.final_learning_rate <= 1:
      raise ValueError(f"train.learning_rate must be > 0 and train.final_learning_rate in "
                       f"[0, 1]; got {t.learning_rate!r}, {t.final_learning_rate!r}")
    builders.check_manual_dir(d.manual_dir)

  def data(self, config, meta):
    saved = None
    if meta:
      saved = (Vocabulary.from_json(meta["vocab"]), np.asarray(meta["counts"]))
    corpus = load_corpus(config, saved)
    d, m, t = config.data, config.model, config.train
    sizes = ", ".join(f"{s} {len(ids):,} words" for s, (ids, _) in corpus.splits.items())
    train = data_lib.PairBatches(corpus, "train", t.batch_size, mode=m.mode, window=d.window,
                                 sample=d.sample, seed=config.seed)
    held = data_lib.PairBatches(corpus, "validation", t.batch_size, mode=m.mode,
                                window=d.window, sample=0.0, seed=config.seed + 1)
    analogies = Analogies(config, corpus.vocab)
    summary = (f"{d.name}: vocabulary {len(corpus.vocab):,} words (min count {d.min_count}); "
               f"{sizes} in the vocabulary\nderived analogy pairs: " + "; ".join(
                   f"-{s}: {len(p)} pairs ({', '.join('/'.join(x) for x in p[:3])}, ...)"
                   for s, p in analogies.pairs.items()))
    return Data(train=train, evals={"validation": held},
                meta={"vocab": corpus.vocab.to_json(), "counts": corpus.counts.tolist()},
                steps_per_epoch=len(train), example={**train.batch(0, 0), "epoch": 0}, summary=summary,
                extra={"corpus": corpus, "analogies": analogies,
                       "table": data_lib.noise_table(corpus.counts, m.noise_power,
                                                     m.table_size)})

  def model(self, config, meta, data=None):
    return None  # pure functions (seqjax.nn.word2vec): the parameters are two tables

  def init_params(self, model, key, config, meta):
    return w2v.init(key, len(meta["vocab"]["tokens"]), config.model.features)

  def optimizer(self, config, steps_per_epoch, num_steps):
    return _no_optimizer()

  def describe(self, config, model):
    m = config.model
    return f"{m.mode}, {m.features} dimensions, {m.negatives} negatives"

  def train_step(self, run, optimizer):
    num_steps = trainer.num_steps_of(run.config, run.data.steps_per_epoch)
    return make_train_step(run.config, run.data.extra["table"], num_steps)

  def evaluate(self, run, params, split):
    extra, t = run.data.extra, run.config.train
    if "eval_loss" not in extra:
      extra["eval_loss"] = make_eval_loss(run.config, extra["table"])
    total, n = 0.0, 0
    for k, batch in enumerate(run.data.evals[split].epoch_batches(t.eval_batches)):
      total += float(extra["eval_loss"](params, batch, k))
      n += len(batch["targets"])
    return {"loss": total / n, **extra["analogies"].accuracy(params)}

  def format_scores(self, run, split, scores, step):
    analogies = run.data.extra["analogies"]
    return (f"best checkpoint (step {step}): held-out loss {scores['loss']:.4f}, analogy "
            f"accuracy {scores.get('analogy', float('nan')):.3f} (" + ", ".join(
                f"-{s} {scores['analogy_' + s]:.3f}" for s in analogies.questions) + ")")

  def report(self, run, state, result):
    corpus, workdir = run.data.extra["corpus"], run.workdir
    near = neighbours(state.params, corpus.vocab, list(run.config.eval.probe_words),
                      run.config.eval.neighbours)
    result.update(vocab_size=len(corpus.vocab), neighbours=near,
                  analogy_pairs=run.data.extra["analogies"].pairs)
    if jax.process_index() == 0:
      write_vectors(os.path.join(workdir, "vectors.txt"), corpus.vocab,
                    np.asarray(state.params["input"]))
      with open(os.path.join(workdir, "neighbours.txt"), "w", encoding="utf-8") as f:
        for word, items in near.items():
          f.write(f"{word}: " + ", ".join(f"{w} ({s:.2f})" for w, s in items) + "\n")
    for word, items in near.items():
      run.log(f"  {word}: " + ", ".join(w for w, _ in items))
    run.log(f"vectors: {os.path.join(workdir, 'vectors.txt')}")


TASK = Word2VecTask()
