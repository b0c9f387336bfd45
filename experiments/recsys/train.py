"""Session-based recommendation with GRU4Rec against POP and Item-KNN:
``train_and_evaluate(config, workdir)``.

The split (``seqjax.data.sessions.preprocess``): test = the last ``data.test_days``; validation
= the last ``data.valid_days`` of the rest (it picks the GRU's checkpoint by Recall@K); the GRU
and both baselines learn from the remaining training sessions, and all three are scored on the
same validation and test next-item examples (every prefix of a session predicts its next item,
ranked among all items). The trainer never reads flags (``main.py`` does).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import common
from experiments.recsys.configs import base
from seqjax import recommend
from seqjax.cells import CELLS
from seqjax.data import builders, sessions as data_lib
from seqjax.data.word2vec import noise_table
from seqjax.nn import rnn
from seqjax.nn.gru4rec import GRU4Rec
from seqjax.train import checkpoint, config as config_lib, optim, recsys as recsys_train
from seqjax.train.loop import fit, print_flush
from seqjax.train.state import TrainState


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError``/``FileNotFoundError`` naming the first bad config value."""
  config_lib.check_keys(config, base.get_config(), free=("model.cell_options",))
  d, m, t = config.data, config.model, config.train
  common.check_choices({"data.name": (d.name, sorted(data_lib.BUILDERS)),
                        "model.cell": (m.cell, sorted(CELLS)),
                        "train.loss": (t.loss, recsys_train.LOSSES),
                        "optimizer.name": (config.optimizer.name, optim.OPTIMIZERS),
                        "optimizer.schedule": (config.optimizer.schedule, optim.SCHEDULES)})
  common.check_positive_ints({
      "data.min_item_support": d.min_item_support, "model.embed_size": m.embed_size,
      "model.hidden_size": m.hidden_size, "model.num_layers": m.num_layers,
      "train.batch_size": t.batch_size, "train.block": t.block,
      "train.eval_batch_size": t.eval_batch_size, "train.top_k": t.top_k,
      "train.log_every": t.log_every, "train.checkpoint_every": t.checkpoint_every})
  if t.loss == "sampled":
    common.check_positive_ints({"train.num_samples": t.num_samples})
  if not d.test_days > 0 or d.valid_days < 0:
    raise ValueError(f"data.test_days must be > 0 and data.valid_days >= 0; got "
                     f"{d.test_days!r}, {d.valid_days!r}")
  if not 0.0 <= m.dropout_rate < 1.0:
    raise ValueError(f"model.dropout_rate must be in [0, 1); got {m.dropout_rate!r}")
  common.check_num_steps(t)
  if d.manual_dir:
    if not os.path.isdir(d.manual_dir):
      raise FileNotFoundError(f"data.manual_dir={d.manual_dir!r} is not a directory")
    builders.find_local_files(d.manual_dir, data_lib.BUILDERS[d.name][2])


def prepare_data(config: ml_collections.ConfigDict):
  """The prepared TFDS builder (reading and checking the raw log; cached afterwards)."""
  d = config.data
  return builders.prepare(d.name, data_lib.BUILDERS, data_dir=d.data_dir or None,
                          manual_dir=d.manual_dir or None)


def load_data(config: ml_collections.ConfigDict, item_ids=None):
  """``(SessionData, train sessions, validation sessions)``."""
  d = config.data
  data = data_lib.preprocess(data_lib.read_sessions(prepare_data(config)),
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


def build_model(config: ml_collections.ConfigDict, num_items: int) -> GRU4Rec:
  m = config.model
  return GRU4Rec(num_items=num_items, embed_size=m.embed_size, cell=m.cell,
                 hidden_size=m.hidden_size, num_layers=m.num_layers,
                 cell_options=dict(m.cell_options), dropout_rate=m.dropout_rate)


def zero_carry(config: ml_collections.ConfigDict, params: Any, lanes: int) -> Any:
  return rnn.initial_carry(config.model.cell, params["rnn"], (lanes,))


def baseline_scores(train: list[np.ndarray], num_items: int, lam: float):
  """``{name: score_fn(prefixes) -> [n, I]}`` of POP and Item-KNN fit on ``train``."""
  pop = recommend.popularity_scores(train, num_items)
  knn = recommend.ItemKNN(train, num_items, lam=lam)
  return {"pop": lambda prefixes: np.broadcast_to(pop, (len(prefixes), num_items)),
          "item_knn": lambda prefixes: knn.scores(np.asarray([p[-1] for p in prefixes]))}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print_flush) -> dict[str, Any]:
  """Trains GRU4Rec, keeps the best checkpoint by validation Recall@K, and scores it with POP
  and Item-KNN on validation and test. Returns a summary (also ``workdir/results.json``)."""
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  saved = checkpoint.resume_meta(workdir)
  data, train, valid = load_data(config, saved["item_ids"] if saved else None)
  t, k = config.train, config.train.top_k
  events = lambda ss: sum(len(s) - 1 for s in ss)
  log(f"{config.data.name}: {data.num_items:,} items; train {len(train):,} sessions "
      f"({events(train):,} next-item events), validation {len(valid):,} ({events(valid):,}), "
      f"test {len(data.test):,} ({events(data.test):,})")

  train_batches = data_lib.SessionParallel(train, t.batch_size, t.block, shuffle=True,
                                           seed=config.seed)
  eval_sets = {"test": data.test, **({"validation": valid} if valid else {})}
  eval_batches = {s: data_lib.SessionParallel(x, t.eval_batch_size, t.block, shuffle=False)
                  for s, x in eval_sets.items()}
  steps_per_epoch = len(train_batches)
  num_steps = t.num_steps or t.num_epochs * steps_per_epoch
  model = build_model(config, data.num_items)
  optimizer = optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps)
  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  example = train_batches.batch(0, 0)
  params = model.init(init_key, jnp.asarray(example["inputs"]),
                      jnp.asarray(example["resets"]))["params"]
  state = TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                     opt_state=optimizer.init(params), key=train_key,
                     carry=zero_carry(config, params, t.batch_size))
  n_params = sum(x.size for x in jax.tree.leaves(params))
  log(f"model: GRU4Rec ({config.model.cell} {config.model.hidden_size}), {n_params:,} "
      f"parameters; loss {t.loss}; {steps_per_epoch} blocks of {t.batch_size} lanes x "
      f"{t.block} steps per epoch, {num_steps} steps")
  table = None
  if t.loss == "sampled":
    table = noise_table(np.maximum(data.popularity, 1), t.sample_alpha, 100_000)
  train_step = jax.jit(recsys_train.make_train_step(model, optimizer, t.loss, noise_table=table,
                                                    num_samples=t.num_samples),
                       donate_argnums=0)
  eval_step = jax.jit(recsys_train.make_eval_step(model))
  select = "validation" if valid else "test"

  def gru_ranks(params, split):
    return recsys_train.ranks(eval_step, params, eval_batches[split].epoch_batches(),
                              zero_carry(config, params, t.eval_batch_size))

  def evaluate(state):
    return recommend.recall_mrr(gru_ranks(state.params, select), k)

  options = common.loop_options(t, num_steps, steps_per_epoch, best_metric=f"recall@{k}",
                                best_mode="max")
  meta = {"item_ids": data.item_ids.tolist(), "config": config.to_json()}
  if not valid:
    log("data.valid_days=0: no validation split; the last checkpoint is reported (evaluations "
        "during training show test scores but do not pick the checkpoint)")
    options = common.loop_options(t, num_steps, steps_per_epoch, best_metric="count",
                                  best_mode="max")
  state, summary = fit(state, train_step=train_step, batches=train_batches, options=options,
                       workdir=workdir, evaluate=evaluate, meta=meta, log=log)

  params = state.params
  if valid:
    ckpt = checkpoint.Checkpointer(workdir)
    params = ckpt.restore(state, which="best")[0].params
    ckpt.close()
  baselines = baseline_scores(train, data.num_items, config.baselines.knn_lambda)
  result: dict[str, Any] = {"stopped": summary["stopped"], "best_step": summary["best_step"],
                            "steps": int(state.step), "num_items": data.num_items,
                            "train_sessions": len(train)}
  for split, sessions in eval_sets.items():
    prefixes, targets = data_lib.next_item_examples(sessions)
    scores = {"gru4rec": recommend.recall_mrr(gru_ranks(params, split), k)}
    for name, fn in baselines.items():
      scores[name] = recommend.evaluate_scores(fn, prefixes, targets, k=k)
    result[split] = scores
    log(f"{split} ({len(targets):,} next-item events): " + "; ".join(
        f"{name} Recall@{k} {s[f'recall@{k}']:.4f} MRR@{k} {s[f'mrr@{k}']:.4f}"
        for name, s in scores.items()))
  return common.write_results(workdir, result)
