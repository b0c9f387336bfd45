"""The language-model task: truncated-BPTT windows of a corpus, next-token cross-entropy.

Loss scale (``train.loss_reduction``):

- ``"sum_time_mean_batch"``: the sum over the window's time steps of the batch-mean token
  cross-entropy, as in Zaremba et al. and the TF PTB tutorial. Their learning rate of 1.0
  assumes this scale.
- ``"mean"``: the mean over all tokens (what Adam-style configs usually assume).

Either way the reported ``loss`` is the mean token negative log-likelihood in nats, so
perplexity is ``exp(loss)`` and bits per character ``loss / ln 2``. The carry of window ``k``
(gradient stopped) is the initial state of window ``k+1``, reset to zeros where a batch has
``reset`` (the first window of every epoch); evaluation threads it through a whole split.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from experiments.lm.configs import base
from seqjax import metrics, parallel
from seqjax.data import registry
from seqjax.data import lm as lm_data
from seqjax.data.vocab import Vocabulary
from seqjax.nn import RNNLM
from seqjax.nn.lm import FixedWindowLM
from seqjax.nn import lm as lm_nn
from seqjax.train.losses import token_nll
from seqjax.train.task import Data, Run, Task

REDUCTIONS = base.REDUCTIONS


def load_corpus(config: ml_collections.ConfigDict, vocab: Vocabulary | None = None):
  d = config.data
  return lm_data.load_corpus(d.name, tokenizer=d.tokenizer, data_dir=d.data_dir or None,
                             manual_dir=d.manual_dir or None, vocab=vocab,
                             max_vocab=d.max_vocab or None, unk=d.unk or None)


def _reset(carry: Any, reset: jax.Array) -> Any:
  return jax.tree.map(lambda c: jnp.where(reset, jnp.zeros_like(c), c), carry)


class LMTask(Task):
  name = "lm"
  base_config = base
  rnn_sections = ("model.rnn",)
  carries_state = True

  def validate(self, config):
    m = config.model
    if m.kind == "window" and not m.embed_size:
      raise ValueError("model.kind='window' needs model.embed_size > 0")
    if m.kind == "window" and m.embed_dropout:
      raise ValueError("model.embed_dropout is an RNNLM option; model.kind='window' does not "
                       "take it")
    registry.check_manual_dir(config.data.manual_dir, config.data.name)

  def data(self, config, meta):
    vocab = Vocabulary.from_json(meta["vocab"]) if meta else None
    corpus = load_corpus(config, vocab)
    t = config.train

    def stream(split, batch_size, batch_key, **kwargs):
      try:
        return lm_data.LMStream(corpus.splits[split], batch_size, t.bptt, **kwargs)
      except ValueError as e:
        raise ValueError(f"the {split} split of {config.data.name} ({len(corpus.splits[split]):,} "
                         f"tokens) does not fit {batch_key}={batch_size} rows of train.bptt="
                         f"{t.bptt} tokens: {str(e).removeprefix('LMStream: ')}") from None

    train = stream("train", t.batch_size, "train.batch_size",
                   rows=parallel.process_rows(t.batch_size))
    evals = {s: stream(s, t.eval_batch_size, "train.eval_batch_size", pad_last=True)
             for s in ("validation", "test")}
    steps = len(train)
    summary = (f"{config.data.name}: vocabulary {len(corpus.vocab)}, train "
               f"{len(corpus.splits['train']):,} tokens, {steps} steps per epoch")
    return Data(train=train, evals=evals, meta={"vocab": corpus.vocab.to_json()},
                steps_per_epoch=steps, example={**train.batch(0), "epoch": 0}, summary=summary,
                vocab_size=len(corpus.vocab), tokens_per_step=t.batch_size * t.bptt,
                extra={"vocab": corpus.vocab})

  def model(self, config, meta, data=None):
    m = config.model
    if m.kind == "window":
      return FixedWindowLM(vocab_size=len(meta["vocab"]["tokens"]), context=m.window.context,
                           embed_size=m.embed_size, hidden_size=m.window.hidden_size,
                           direct=m.window.direct, dropout_rate=m.dropout_rate,
                           init_scale=m.rnn.init_scale or None, tie_weights=m.tie_weights)
    return RNNLM(vocab_size=len(meta["vocab"]["tokens"]), rnn=self.rnn(config),
                 embed_size=m.embed_size or None, dropout_rate=m.dropout_rate,
                 tie_weights=m.tie_weights, embed_dropout=m.embed_dropout)

  def init_params(self, model, key, config, meta):
    tokens = jnp.zeros((config.train.batch_size, config.train.bptt), jnp.int32)
    return model.init(key, tokens)["params"]

  def initial_carry(self, model, params, batch_size, config):
    return lm_nn.initial_carry(model, params, batch_size)

  def describe(self, config, model):
    m = config.model
    if m.kind == "window":
      return (f"fixed-window LM: {m.window.context} previous tokens x {m.embed_size}, tanh "
              f"{m.window.hidden_size}{', direct connections' if m.window.direct else ''}")
    r = m.rnn
    return f"{r.num_layers}x{r.hidden_size} {r.cell} LM"

  def loss(self, model, params, batch, *, key, carry, config):
    carry = _reset(carry, batch["reset"])
    mask = batch["mask"]
    logits, new_carry = model.apply({"params": params}, batch["inputs"], carry,
                                    deterministic=False, rngs={"dropout": key})
    nll = token_nll(logits, batch["targets"]) * mask
    total, count = jnp.sum(nll), jnp.sum(mask)
    if config.train.loss_reduction == "sum_time_mean_batch":
      objective = total / mask.shape[0]
    else:
      objective = total / count
    return objective, {"loss": total / count}, new_carry

  def eval_step(self, model, params, batch, carry, config):
    logits, carry = model.apply({"params": params}, batch["inputs"], carry)
    nll = token_nll(logits, batch["targets"]) * batch["mask"]
    return {"nll": jnp.sum(nll), "tokens": jnp.sum(batch["mask"])}, carry

  def finalize(self, sums, split, config):
    count = float(sums["tokens"])
    return {"loss": float(sums["nll"]) / count, "tokens": count}

  def derive(self, m, config):
    """Perplexity (word level) or bits per character (char level) from the mean NLL."""
    if "loss" not in m:
      return {}
    if config.data.level == "word":
      return {"ppl": metrics.perplexity(m["loss"], 1.0)}
    return {"bpc": metrics.bits_per_token(m["loss"], 1.0)}

  def report(self, run: Run, state: Any, result: dict) -> None:
    s = run.config.sample
    if not s.length:
      return
    from experiments.lm import sample  # pylint: disable=g-import-not-at-top
    text = sample.generate(run.model, state.params, run.data.extra["vocab"],
                           run.config.data.tokenizer, prompt=s.prompt, length=s.length,
                           temperature=s.temperature, top_k=s.top_k, seed=run.config.seed)
    run.log("sample:\n" + text)
    result["sample"] = text


TASK = LMTask()
