"""Language-model training and evaluation: ``train_and_evaluate(config, workdir)``.

The trainer never reads flags (``main.py`` does), so tests call it directly.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from experiments import common
from experiments.lm.configs import base
from seqjax import metrics, parallel
from seqjax.cells import CELLS, LINEAR_CELLS
from seqjax.data import builders
from seqjax.data import lm as lm_data
from seqjax.data.vocab import TOKENIZERS, Vocabulary
from seqjax.nn import RNNLM
from seqjax.nn import lm as lm_nn
from seqjax.train import checkpoint, config as config_lib, lm as lm_train, optim
from seqjax.train.loop import fit, print_flush
from seqjax.train.state import TrainState


def validate(config: ml_collections.ConfigDict) -> None:
  config_lib.check_keys(config, base.get_config(), free=("model.cell_options",))
  if config.data.level not in ("word", "char"):
    raise ValueError(f"data.level must be 'word' or 'char'; got {config.data.level!r}")
  choices = {"data.name": (config.data.name, sorted(builders.BUILDERS)),
             "data.tokenizer": (config.data.tokenizer, sorted(TOKENIZERS)),
             "model.cell": (config.model.cell, sorted(CELLS)),
             "optimizer.name": (config.optimizer.name, optim.OPTIMIZERS),
             "optimizer.schedule": (config.optimizer.schedule, optim.SCHEDULES),
             "train.loss_reduction": (config.train.loss_reduction, lm_train.REDUCTIONS)}
  common.check_choices(choices)
  positive = {"model.hidden_size": config.model.hidden_size,
              "model.num_layers": config.model.num_layers, "train.batch_size": config.train.batch_size,
              "train.bptt": config.train.bptt, "train.eval_batch_size": config.train.eval_batch_size,
              "train.log_every": config.train.log_every,
              "train.checkpoint_every": config.train.checkpoint_every}
  common.check_positive_ints(positive)
  for key in ("dropout_rate", "state_dropout", "embed_dropout", "weight_drop"):
    if not 0.0 <= config.model[key] < 1.0:
      raise ValueError(f"model.{key} must be in [0, 1); got {config.model[key]!r}")
  if config.model.parallel and config.model.cell not in LINEAR_CELLS:
    raise ValueError(f"model.parallel needs a linear-recurrence cell {list(LINEAR_CELLS)}; got "
                     f"{config.model.cell!r}")
  common.check_choices({"model.compute_dtype": (config.model.compute_dtype,
                                                ("", "bfloat16", "float16"))})
  common.check_num_steps(config.train)
  if config.data.manual_dir:
    if not os.path.isdir(config.data.manual_dir):
      raise FileNotFoundError(f"data.manual_dir={config.data.manual_dir!r} is not a directory")
    builders.find_local_files(config.data.manual_dir, builders.local_file_names(config.data.name))


def build_model(config: ml_collections.ConfigDict, vocab_size: int) -> RNNLM:
  m = config.model
  return RNNLM(vocab_size=vocab_size, hidden_size=m.hidden_size, num_layers=m.num_layers,
               cell=m.cell, cell_options=dict(m.cell_options), embed_size=m.embed_size or None,
               dropout_rate=m.dropout_rate, tie_weights=m.tie_weights,
               init_scale=m.init_scale or None, unroll=m.unroll, remat=m.remat,
               # Keys added after the first checkpoints were written: read with defaults.
               locked_dropout=m.get("locked_dropout", False),
               state_dropout=m.get("state_dropout", 0.0),
               embed_dropout=m.get("embed_dropout", 0.0), weight_drop=m.get("weight_drop", 0.0),
               zoneout=m.get("zoneout", 0.0), parallel=m.get("parallel", False),
               compute_dtype=m.get("compute_dtype", "") or None)


def derive_fn(level: str) -> Callable[[dict], dict]:
  """Perplexity (word level) or bits per character (char level) from the mean NLL."""
  if level == "word":
    return lambda m: {"ppl": metrics.perplexity(m["loss"], 1.0)}
  return lambda m: {"bpc": metrics.bits_per_token(m["loss"], 1.0)}


def load_corpus(config: ml_collections.ConfigDict, vocab: Vocabulary | None = None):
  d = config.data
  return lm_data.load_corpus(d.name, tokenizer=d.tokenizer, data_dir=d.data_dir or None,
                             manual_dir=d.manual_dir or None, vocab=vocab,
                             max_vocab=d.max_vocab or None, unk=d.unk or None)


def init_state(config: ml_collections.ConfigDict, model: RNNLM, optimizer) -> TrainState:
  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  tokens = jnp.zeros((config.train.batch_size, config.train.bptt), jnp.int32)
  params = model.init(init_key, tokens)["params"]
  return TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                    opt_state=optimizer.init(params), key=train_key,
                    carry=lm_nn.initial_carry(model, params, config.train.batch_size))


def restore_params(workdir: str, which: str = "best"):
  """``(config, vocab, model, params)`` of a trained workdir, for evaluation and sampling."""
  meta, config = common.read_run(workdir, which)
  vocab = Vocabulary.from_json(meta["vocab"])
  model = build_model(config, len(vocab))
  # The optimizer only gives the state its structure here; its schedule length is irrelevant.
  optimizer = optim.make_optimizer(config.optimizer, 1, config.optimizer.warmup_steps + 2)
  return config, vocab, model, common.restore_params(workdir, init_state(config, model, optimizer),
                                                     which)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print_flush) -> dict[str, Any]:
  """Trains, keeps the best checkpoint by validation loss, then scores validation and test
  with it. Returns a summary (also written to ``workdir/results.json``)."""
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  saved = checkpoint.resume_meta(workdir)
  vocab = Vocabulary.from_json(saved["vocab"]) if saved else None
  corpus = load_corpus(config, vocab)
  vocab = corpus.vocab
  t = config.train
  par = common.data_parallel(config, len(vocab), log=log)
  train_stream = lm_data.LMStream(corpus.splits["train"], t.batch_size, t.bptt,
                                  rows=parallel.process_rows(t.batch_size))
  streams = {s: lm_data.LMStream(corpus.splits[s], t.eval_batch_size, t.bptt, pad_last=True)
             for s in ("validation", "test")}
  steps_per_epoch = len(train_stream)
  num_steps = t.num_steps or t.num_epochs * steps_per_epoch
  log(f"{config.data.name}: vocabulary {len(vocab)}, train {len(corpus.splits['train']):,} "
      f"tokens, {steps_per_epoch} steps per epoch, {num_steps} steps")

  model = build_model(config, len(vocab))
  optimizer = optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps)
  state = par.put_state(init_state(config, model, optimizer))
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  log(f"model: {config.model.num_layers}x{config.model.hidden_size} {config.model.cell}, "
      f"{n_params:,} parameters")
  example = {**train_stream.batch(0), "epoch": 0}
  train_step = par.jit_train_step(lm_train.make_train_step(model, optimizer, t.loss_reduction),
                                  state, example, t.batch_size)
  eval_step = jax.jit(lm_train.make_eval_step(model))

  def evaluate(state, split="validation"):
    place = lambda batch, carry: par.place_eval(batch, carry, t.eval_batch_size)
    return lm_train.evaluate(eval_step, model, state.params, streams[split], place=place)

  derive = derive_fn(config.data.level)
  options = common.loop_options(t, num_steps, steps_per_epoch,
                                tokens_per_step=t.batch_size * t.bptt)
  meta = {"vocab": vocab.to_json(), "config": config.to_json()}
  state, summary = fit(state, train_step=train_step,
                       batches=par.batches(train_stream, t.batch_size), options=options,
                       workdir=workdir, evaluate=evaluate, derive=derive, meta=meta, log=log)

  result = {"stopped": summary["stopped"], "best_step": summary["best_step"],
            "steps": int(state.step)}
  if t.test_at_end:
    ckpt = checkpoint.Checkpointer(workdir)
    best_state, _, _ = ckpt.restore(state, which="best")
    ckpt.close()
    for split in ("validation", "test"):
      scores = evaluate(best_state, split)
      scores.update(derive(scores))
      result[split] = scores
      log(f"{split} (best checkpoint, step {summary['best_step']}): "
          + " ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    state = best_state
  if config.sample.length:
    from experiments.lm import sample as sample_lib  # pylint: disable=g-import-not-at-top
    text = sample_lib.generate(model, state.params, vocab, config.data.tokenizer,
                               prompt=config.sample.prompt, length=config.sample.length,
                               temperature=config.sample.temperature, top_k=config.sample.top_k,
                               seed=config.seed)
    log("sample:\n" + text)
    result["sample"] = text
  return common.write_results(workdir, result)
