"""The sentence-VAE task (Bowman et al. 2016) and its sentence-level RNN LM baseline
(``model.latent_size=0``), on a corpus read one sentence per line.

Objective per sentence ``x`` of ``n`` words (``n + 1`` predicted tokens, ``<eos>`` included):
``-log p(x|z) + β_t · KL(q(z|x) || p(z))`` with one posterior sample ``z`` per sentence (the
reparameterisation trick), averaged over the batch's sentences; ``β_t`` is the KL weight of
training step ``t`` (``kl.anneal``: none / linear / sigmoid over ``kl.anneal_steps``) and the
KL part takes free bits (``kl.free_bits``) when set. The logged ``loss`` is always the negative
ELBO, ``recon + kl`` (nats per sentence, β = 1), so runs with different schedules compare.

Evaluation of a split (the validation split picks the best checkpoint by ``loss``):

- ``loss`` (−ELBO), ``recon`` and ``kl``, nats per sentence, with one posterior sample per
  sentence drawn from its index in the split (so the scores do not depend on batching);
- ``ppl``: ``exp(Σ −ELBO / Σ tokens)``, per word with ``<eos>`` counted (an upper bound);
- ``active_units``: latent dimensions whose posterior mean varies over the split by more than
  0.01 (covariance, Burda et al. 2016); ``kl_per_dim`` is not kept;
- at the end, with ``eval.is_samples = K``: ``is_nll`` (per sentence) and ``is_ppl`` from the
  importance-sampled estimate ``log 1/K Σ_k p(x, z_k) / q(z_k|x)``, ``z_k ~ q(z|x)``, a tighter
  bound that tends to ``log p(x)`` as ``K`` grows.

For the RNN LM all of these are exact: ``kl = 0`` and ``loss`` is ``-log p(x)``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.vae.configs import base
from seqjax import metrics, parallel
from seqjax.data import registry, sentences
from seqjax.data.vocab import Vocabulary
from seqjax.nn import vae
from seqjax.nn.vae import SentenceVAE
from seqjax.train import trainer
from seqjax.train.task import Data, Run, Task

EVAL_SEED = 1  # folded into config.seed for the evaluation's posterior samples


def load(config, vocab: Vocabulary | None = None) -> sentences.Sentences:
  d = config.data
  return sentences.load_sentences(d.name, data_dir=d.data_dir or None,
                                  manual_dir=d.manual_dir or None, vocab=vocab,
                                  max_vocab=d.max_vocab or None)


def eval_key(config) -> jax.Array:
  return jax.random.fold_in(jax.random.key(config.seed), EVAL_SEED)


class VAETask(Task):
  name = "vae"
  base_config = base
  rnn_sections = ("model.encoder", "model.decoder")
  resume_free = ("eval.", "sample.")
  best = ("loss", "min")

  def validate(self, config):
    m = config.model
    if self.rnn(config, "model.decoder").bidirectional:
      raise ValueError("model.decoder.bidirectional must be False (the decoder generates left "
                       "to right)")
    if m.tie_weights and self.rnn(config, "model.decoder").output_size != m.embed_size:
      raise ValueError(f"model.tie_weights needs model.decoder.hidden_size "
                       f"({m.decoder.hidden_size}) = model.embed_size ({m.embed_size})")
    if m.latent_size == 0 and config.kl.free_bits:
      raise ValueError("kl.free_bits needs a latent code (model.latent_size > 0)")
    registry.check_manual_dir(config.data.manual_dir, config.data.name)

  # ---- data and model ------------------------------------------------------------------------
  def data(self, config, meta):
    vocab = Vocabulary.from_json(meta["vocab"]) if meta else None
    corpus = load(config, vocab)
    d, t = config.data, config.train
    bucket = dict(bucket_chunk=d.bucket_chunk, pad_multiple=d.pad_multiple)
    train = sentences.sentence_batches(corpus, "train", t.batch_size, shuffle=True,
                                       seed=config.seed, shard=parallel.shard_options(), **bucket)
    evals = {s: sentences.sentence_batches(corpus, s, t.eval_batch_size, shuffle=False, **bucket)
             for s in ("validation", "test")}
    n = {s: len(v) for s, v in corpus.splits.items()}
    tokens = sum(len(s) + 1 for s in corpus.splits["train"])
    summary = (f"{d.name} sentences: vocabulary {len(corpus.vocab)}, train {n['train']:,} "
               f"sentences ({tokens:,} tokens), validation {n['validation']:,}, test "
               f"{n['test']:,}; {len(train)} steps per epoch")
    example = {**train.dataset(0)[0], "epoch": 0}
    return Data(train=train, evals=evals, meta={"vocab": corpus.vocab.to_json()},
                steps_per_epoch=len(train), example=example, summary=summary,
                tokens_per_step=round(tokens / n["train"] * t.batch_size),
                extra={"corpus": corpus})

  def model(self, config, meta, data=None):
    m = config.model
    return SentenceVAE(vocab_size=len(meta["vocab"]["tokens"]), embed_size=m.embed_size,
                       encoder=self.rnn(config, "model.encoder"),
                       decoder=self.rnn(config, "model.decoder"), latent_size=m.latent_size,
                       word_keep=m.word_keep, z_every_step=m.z_every_step,
                       dropout_rate=m.dropout_rate, tie_weights=m.tie_weights)

  def init_params(self, model, key, config, meta):
    tokens = jnp.zeros((2, 8), jnp.int32)
    return model.init(key, tokens, tokens, jnp.array([8, 3]))["params"]

  def describe(self, config, model):
    m = config.model
    d = m.decoder
    inputs = ("inputless decoder" if m.word_keep == 0 else
              f"word keep {m.word_keep:g}" if m.word_keep < 1 else "full inputs")
    if not m.latent_size:
      return f"sentence {d.num_layers}x{d.hidden_size} {d.cell} LM ({inputs})"
    e = m.encoder
    return (f"sentence VAE: {e.num_layers}x{e.hidden_size} {e.cell} encoder, z {m.latent_size}, "
            f"{d.num_layers}x{d.hidden_size} {d.cell} decoder ({inputs})")

  # ---- training ------------------------------------------------------------------------------
  def train_step(self, run, optimizer):
    """The one step builder's step, with the KL weight of ``state.step`` handed to ``loss``."""
    inner = trainer.make_train_step(self, run.model, optimizer, run.config)
    anneal, steps = run.config.kl.anneal, run.config.kl.anneal_steps

    def step(state, batch):
      return inner(state, {**batch, "kl_weight": vae.kl_weight(state.step, anneal, steps)})
    return step

  def loss(self, model, params, batch, *, key, carry, config):
    drop_key, z_key = jax.random.split(key)
    w = batch["weights"]
    count = jnp.maximum(jnp.sum(w), 1.0)
    latent = config.model.latent_size
    eps = (jax.random.normal(z_key, (w.shape[0], latent)) if latent else None)
    logits, mu, logvar = model.apply({"params": params}, batch["inputs"], batch["targets"],
                                     batch["lengths"], eps, deterministic=False,
                                     rngs={"dropout": drop_key})
    recon = jnp.sum(vae.sentence_nll(logits, batch["targets"], batch["lengths"]) * w) / count
    tokens = jnp.sum(batch["lengths"].astype(jnp.float32) * w)
    out = {"recon": recon, "loss": recon}
    objective = recon
    if latent:
      kl_dims = vae.gaussian_kl(mu, logvar)
      kl = jnp.sum(kl_dims * w[:, None]) / count
      beta = batch.get("kl_weight", 1.0)
      objective = recon + beta * vae.kl_term(kl_dims, w, config.kl.free_bits)
      out.update(kl=kl, loss=recon + kl, kl_weight=jnp.asarray(beta, jnp.float32))
    out["token_nll"] = out["loss"] * count / jnp.maximum(tokens, 1.0)
    return objective, out, None

  def derive(self, m, config):
    return {"ppl": metrics.perplexity(m["token_nll"], 1.0)} if "token_nll" in m else {}

  # ---- evaluation ----------------------------------------------------------------------------
  def eval_step(self, model, params, batch, carry, config):
    w = batch["weights"]
    latent = config.model.latent_size
    eps = vae.row_normal(eval_key(config), batch["index"], (latent,)) if latent else None
    logits, mu, logvar = model.apply({"params": params}, batch["inputs"], batch["targets"],
                                     batch["lengths"], eps)
    recon = vae.sentence_nll(logits, batch["targets"], batch["lengths"])
    sums = {"recon": jnp.sum(recon * w),
            "tokens": jnp.sum(batch["lengths"].astype(jnp.float32) * w), "sentences": jnp.sum(w)}
    if latent:
      sums["kl"] = jnp.sum(jnp.sum(vae.gaussian_kl(mu, logvar), -1) * w)
      sums["mu"] = jnp.sum(mu * w[:, None], 0)
      sums["mu_sq"] = jnp.sum(jnp.square(mu) * w[:, None], 0)
    return sums, carry

  def finalize(self, sums, split, config):
    n, tokens = float(sums["sentences"]), float(sums["tokens"])
    recon = float(sums["recon"])
    kl = float(sums.get("kl", 0.0))
    out = {"loss": (recon + kl) / n, "recon": recon / n, "kl": kl / n,
           "ppl": metrics.perplexity(recon + kl, tokens), "sentences": n, "tokens": tokens}
    if "mu" in sums:
      mean = np.asarray(sums["mu"]) / n
      var = np.asarray(sums["mu_sq"]) / n - mean ** 2
      out["active_units"] = float(np.sum(var > 0.01))
    return out

  def evaluate(self, run, params, split):
    scores = trainer.evaluate_split(run, params, split)
    k = run.config.eval.is_samples
    if (run.final and k and run.config.model.latent_size
        and split in run.config.eval.is_splits):
      total, size = 0.0, run.config.train.eval_batch_size
      is_nll = jax.jit(lambda p, b: importance_nll(run.model, p, b, k, eval_key(run.config)))
      for batch in run.data.evals[split].epoch_batches():
        batch = {key: v for key, v in batch.items() if key not in trainer.NOT_MODEL_INPUTS}
        batch, _ = run.parallel.place_eval(batch, None, size)
        total += float(np.asarray(jax.device_get(is_nll(params, batch)), np.float64))
      scores["is_nll"] = total / scores["sentences"]
      scores["is_ppl"] = metrics.perplexity(total, scores["tokens"])
      scores["is_samples"] = float(k)
    return scores

  def format_scores(self, run, split, scores, step):
    keys = ("loss", "recon", "kl", "ppl", "is_nll", "is_ppl", "active_units")
    shown = " ".join(f"{k} {scores[k]:.2f}" for k in keys if k in scores)
    return f"{split} (best checkpoint, step {step}): {shown}"

  def report(self, run: Run, state: Any, result: dict) -> None:
    from experiments.vae import generate  # pylint: disable=g-import-not-at-top
    generate.report(run, state.params, result)


def importance_nll(model: SentenceVAE, params: Any, batch: dict, samples: int,
                   key: jax.Array) -> jax.Array:
  """``Σ_b −log p̂(x_b)`` over the batch's sentences (``weights``), where
  ``log p̂(x) = logsumexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log K`` with ``z_k``
  drawn from ``q(z|x)``; sample ``k`` of sentence ``b`` comes from ``fold_in(fold_in(key,
  index_b), k)``, so the estimate does not depend on batching. Its expectation is at most
  ``log p(x)`` and at least the ELBO (Burda et al. 2016)."""
  apply = lambda method, *args: model.apply({"params": params}, *args, method=method)
  mu, logvar = apply(SentenceVAE.encode, batch["targets"], batch["lengths"])
  latent = mu.shape[-1]

  def one(k):
    eps = vae.row_normal(jax.random.fold_in(key, 1 << 20), batch["index"] * samples + k,
                         (latent,))
    z = mu + jnp.exp(0.5 * logvar) * eps
    logits = apply(SentenceVAE.decode, batch["inputs"], z)
    log_px_z = -vae.sentence_nll(logits, batch["targets"], batch["lengths"])
    zeros = jnp.zeros_like(z)
    return log_px_z + vae.log_normal(z, zeros, zeros) - vae.log_normal(z, mu, logvar)

  log_w = jax.lax.map(one, jnp.arange(samples))  # [K, B]
  log_px = jax.scipy.special.logsumexp(log_w, axis=0) - math.log(samples)
  return -jnp.sum(log_px * batch["weights"])


TASK = VAETask()
