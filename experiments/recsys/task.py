"""The recsys task: session-based next-item recommendation, GRU4Rec against POP and Item-KNN.

The split (``seqjax.data.recsys.preprocess``): test = the last ``data.test_days``; validation
= the last ``data.valid_days`` of the rest (it picks the GRU's checkpoint by Recall@K); the GRU
and both baselines learn from the remaining training sessions, and all three are scored on the
same validation and test next-item examples (every prefix of a session predicts its next item,
ranked among all items).

Losses (cross-entropy of the target among candidates, averaged over real steps, ``weights``):
``full`` (a softmax over the catalogue), ``in_batch`` (the targets of all lanes at that step:
GRU4Rec's mini-batch negatives) and ``sampled`` (in-batch plus ``num_samples`` items drawn, for
the whole block, from training popularity^``alpha``; Hidasi & Karatzoglou 2018). A candidate
equal to the positive item or belonging to a padding lane is masked out. The recurrent carry
flows from block to block (gradients stop at block boundaries) and is zeroed by the blocks'
``resets`` where sessions start.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.recsys.configs import base
from seqjax import recommend
from seqjax.data import registry, recsys as data_lib
from seqjax.data.word2vec import noise_table
from seqjax.nn import rnn
from seqjax.nn.recsys import GRU4Rec
from seqjax.recommend import target_ranks
from seqjax.train import config as checks
from seqjax.train.task import Data, Run, Task

LOSSES = base.LOSSES


def candidate_logits(params: Any, hidden: jax.Array, targets: jax.Array, weights: jax.Array,
                     loss: str, samples: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """``(logits [B, T, C], labels [B, T])`` of ``loss`` (module docstring), masked entries at
  ``-1e9``."""
  w, b = params["output_items"], params["output_bias"]
  if loss == "full":
    return hidden @ w.T + b[None, None], targets
  if loss not in LOSSES:
    raise ValueError(f"train.loss must be one of {list(LOSSES)}; got {loss!r}")
  n = targets.shape[0]
  logits = jnp.einsum("bth,cth->btc", hidden, w[targets]) + b[targets].T[None]
  same = targets[:, :, None] == targets.T[None]  # [B, T, C]: candidate c holds b's target
  mine = jnp.eye(n, dtype=bool)[:, None, :]
  invalid = (same & ~mine) | (weights.T[None] == 0) & ~mine
  logits = jnp.where(invalid, -1e9, logits)
  if loss == "sampled":
    extra = hidden @ w[samples].T + b[samples][None, None]
    extra = jnp.where(samples[None, None, :] == targets[:, :, None], -1e9, extra)
    logits = jnp.concatenate([logits, extra], axis=-1)
  return logits, jnp.broadcast_to(jnp.arange(n)[:, None], targets.shape)


def load_sessions(config: ml_collections.ConfigDict, item_ids=None):
  """``(SessionData, train sessions, validation sessions)``."""
  d = config.data
  data = data_lib.preprocess(data_lib.read_sessions(RecsysTask().prepare(config)),
                             min_item_support=d.min_item_support, test_days=d.test_days,
                             item_ids=item_ids)
  if not d.valid_days:
    return data, data.train, []
  cut = data.split_time - d.valid_days * 86400.0
  train = [s for s, t in zip(data.train, data.train_times) if t <= cut]
  valid = [s for s, t in zip(data.train, data.train_times) if t > cut]
  if not train or not valid:
    raise ValueError(f"data.valid_days={d.valid_days} leaves {len(train)} training and "
                     f"{len(valid)} validation sessions")
  return data, train, valid


def baseline_scores(train: list[np.ndarray], num_items: int, lam: float):
  """``{name: score_fn(prefixes) -> [n, I]}`` of POP and Item-KNN fit on ``train``."""
  pop = recommend.popularity_scores(train, num_items)
  knn = recommend.ItemKNN(train, num_items, lam=lam)
  return {"pop": lambda prefixes: np.broadcast_to(pop, (len(prefixes), num_items)),
          "item_knn": lambda prefixes: knn.scores(np.asarray([p[-1] for p in prefixes]))}


class RecsysTask(Task):
  name = "recsys"
  base_config = base
  rnn_sections = ("model.rnn",)
  carries_state = True

  def best_metric(self, config):
    if not config.data.valid_days:  # no validation: evaluations show test, pick nothing
      return "count", "max"
    return f"recall@{config.train.top_k}", "max"

  def validate(self, config):
    d, t = config.data, config.train
    if t.loss == "sampled":
      checks.positive_int("train.num_samples", t.num_samples)
    if not d.test_days > 0:
      raise ValueError(f"data.test_days must be > 0; got {d.test_days!r}")
    registry.check_manual_dir(d.manual_dir, d.name)

  def prepare(self, config):
    """The prepared TFDS builder (reading and checking the raw log; cached afterwards)."""
    d = config.data
    return registry.prepare(d.name, kind=registry.SESSIONS, data_dir=d.data_dir or None,
                            manual_dir=d.manual_dir or None)

  def data(self, config, meta):
    t = config.train
    data, train, valid = load_sessions(config, meta["item_ids"] if meta else None)
    events = lambda ss: sum(len(s) - 1 for s in ss)
    summary = (f"{config.data.name}: {data.num_items:,} items; train {len(train):,} sessions "
               f"({events(train):,} next-item events), validation {len(valid):,} "
               f"({events(valid):,}), test {len(data.test):,} ({events(data.test):,})")
    if not valid:
      summary += ("\ndata.valid_days=0: no validation split; the last checkpoint is reported "
                  "(evaluations during training show test scores but do not pick the "
                  "checkpoint)")
    train_batches = data_lib.SessionParallel(train, t.batch_size, t.block, shuffle=True,
                                             seed=config.seed)
    sets = {"test": data.test, **({"validation": valid} if valid else {})}
    evals = {s: data_lib.SessionParallel(x, t.eval_batch_size, t.block, shuffle=False)
             for s, x in sets.items()}
    table = None
    if t.loss == "sampled":
      table = noise_table(np.maximum(data.popularity, 1), t.sample_alpha, 100_000)
    return Data(train=train_batches, evals=evals,
                meta={"item_ids": data.item_ids.tolist(), "num_items": data.num_items},
                steps_per_epoch=len(train_batches), example={**train_batches.batch(0, 0), "epoch": 0},
                summary=summary,
                extra={"sessions": data, "train": train, "sets": sets, "table": table})

  def model(self, config, meta, data=None):
    m = config.model
    return GRU4Rec(num_items=meta["num_items"], embed_size=m.embed_size, rnn=self.rnn(config),
                   dropout_rate=m.dropout_rate)

  def init_params(self, model, key, config, meta):
    shape = (config.train.batch_size, config.train.block)
    return model.init(key, jnp.zeros(shape, jnp.int32), jnp.zeros(shape, bool))["params"]

  def initial_carry(self, model, params, batch_size, config):
    return rnn.initial_carry(model.rnn, params["rnn"], (batch_size,))

  def describe(self, config, model):
    t = config.train
    return (f"GRU4Rec ({model.rnn.cell} {model.rnn.hidden_size}); loss {t.loss}; blocks "
            f"of {t.batch_size} lanes x {t.block} steps")

  def loss(self, model, params, batch, *, key, carry, config, table=None):
    t = config.train
    drop_key, sample_key = jax.random.split(key)
    weights = batch["weights"]
    count = jnp.maximum(jnp.sum(weights), 1.0)
    samples = None
    if t.loss == "sampled":
      samples = table[jax.random.randint(sample_key, (t.num_samples,), 0, table.shape[0])]
    hidden, carry = model.apply({"params": params}, batch["inputs"], batch["resets"], carry,
                                deterministic=False, rngs={"dropout": drop_key})
    logits, labels = candidate_logits(params, hidden, batch["targets"], weights, t.loss, samples)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    loss = jnp.sum(ce * weights) / count
    return loss, {"loss": loss, "events": jnp.sum(weights)}, carry

  def train_step(self, run, optimizer):
    from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
    table = run.data.extra["table"]
    table = None if table is None else jnp.asarray(table)
    return trainer.make_train_step(self, run.model, optimizer, run.config,
                                   loss=functools.partial(self.loss, table=table))

  def eval_step(self, model, params, batch, carry, config):
    hidden, carry = model.apply({"params": params}, batch["inputs"], batch["resets"], carry)
    scores = model.apply({"params": params}, hidden, method="scores")
    return target_ranks(scores, batch["targets"]), carry

  def ranks(self, run: Run, params: Any, split: str) -> np.ndarray:
    """The rank of every real step's target over one pass of split ``split``."""
    carry = self.initial_carry(run.model, params, run.config.train.eval_batch_size, run.config)
    out = []
    for batch in run.data.evals[split].epoch_batches():
      r, carry = run.eval_step(params, {k: v for k, v in batch.items() if k != "epoch"}, carry)
      out.append(np.asarray(r)[batch["weights"] > 0])
    return np.concatenate(out)

  def selection_split(self, run):
    return "validation" if "validation" in run.data.evals else "test"

  def restore_best(self, run):
    return "validation" in run.data.evals

  def evaluate(self, run, params, split):
    k = run.config.train.top_k
    gru = recommend.recall_mrr(self.ranks(run, params, split), k)
    if not run.final:
      return gru
    if "baselines" not in run.data.extra:
      run.data.extra["baselines"] = baseline_scores(
          run.data.extra["train"], run.data.meta["num_items"], run.config.baselines.knn_lambda)
    prefixes, targets = data_lib.next_item_examples(run.data.extra["sets"][split])
    scores = {"gru4rec": gru}
    for name, fn in run.data.extra["baselines"].items():
      scores[name] = recommend.evaluate_scores(fn, prefixes, targets, k=k)
    scores["events"] = len(targets)
    return scores

  def format_scores(self, run, split, scores, step):
    k = run.config.train.top_k
    return f"{split} ({scores['events']:,} next-item events): " + "; ".join(
        f"{name} Recall@{k} {s[f'recall@{k}']:.4f} MRR@{k} {s[f'mrr@{k}']:.4f}"
        for name, s in scores.items() if isinstance(s, dict))

  def report(self, run, state, result):
    result["num_items"] = run.data.meta["num_items"]
    result["train_sessions"] = len(run.data.extra["train"])


TASK = RecsysTask()
