"""Uses of a trained sentence VAE (or sentence RNN LM): samples, homotopies, missing-word
imputation, and the end-of-run report that writes them with the KL/reconstruction curves.

    python -m experiments.vae.generate --workdir=/tmp/ptb_vae --mode=sample --num=10
    python -m experiments.vae.generate --workdir=/tmp/ptb_vae --mode=homotopy \
        --sentences="he was n't there|the company said it would sell"
    python -m experiments.vae.generate --workdir=/tmp/ptb_vae --mode=impute --num=200 \
        --missing=3 --baseline_workdir=/tmp/ptb_rnnlm --data_manual_dir=../shared/data/ptb

- ``sample``: ``z ~ N(0, I)`` decoded greedily (``--temperature=0``, the paper's samples) or
  sampled; for the RNN LM, sentences sampled from it (``--temperature`` > 0).
- ``homotopy``: the codes (posterior means) of two sentences, and ``--steps`` points on the line
  between them, each decoded greedily (Bowman et al. Table 8 style).
- ``impute``: the last ``--missing`` words of test sentences filled by beam search
  (``seqjax.decode.fixed_length_beam``, ``<eos>`` scored after them); the VAE's code is the
  posterior mean of the observed prefix. Prints each model's completions with their
  log-likelihoods and the reference's, and the word accuracy.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any, Optional, Sequence

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import numpy as np

from seqjax import decode
from seqjax.data import sentences as sentences_lib
from seqjax.data.vocab import EOS, Vocabulary
from seqjax.nn.vae import SentenceVAE


# ---- the functions --------------------------------------------------------------------------
def _specials(vocab: Vocabulary) -> tuple[int, int, int]:
  return vocab.ids[sentences_lib.PAD], vocab.ids[sentences_lib.BOS], vocab.ids[EOS]


def to_text(ids: Sequence[int], vocab: Vocabulary) -> str:
  """Tokens up to (not including) the first ``<eos>``."""
  pad, _, eos = _specials(vocab)
  words = []
  for i in np.asarray(ids).tolist():
    if i == eos:
      break
    if i != pad:
      words.append(vocab.tokens[i])
  return " ".join(words)


def _pad(rows: Sequence[np.ndarray], pad_id: int, front: Optional[int] = None,
         back: Optional[int] = None) -> tuple[jax.Array, jax.Array]:
  rows = [np.concatenate([[front] if front is not None else [], r,
                          [back] if back is not None else []]).astype(np.int32) for r in rows]
  width = max(len(r) for r in rows)
  out = np.full((len(rows), width), pad_id, np.int32)
  for i, r in enumerate(rows):
    out[i, :len(r)] = r
  return jnp.asarray(out), jnp.asarray([len(r) for r in rows], jnp.int32)


def posterior_mean(model: SentenceVAE, params: Any, sents: Sequence[np.ndarray],
                   vocab: Vocabulary, *, with_eos: bool = True) -> jax.Array:
  """The codes ``μ(x)`` of sentences given as word ids (``<eos>`` appended unless
  ``with_eos=False``: a prefix)."""
  pad, _, eos = _specials(vocab)
  tokens, lengths = _pad(sents, pad, back=eos if with_eos else None)
  mu, _ = model.apply({"params": params}, tokens, lengths, method=SentenceVAE.encode)
  return mu


@functools.partial(jax.jit, static_argnames=("model", "batch", "max_len", "eos_id", "pad_id",
                                             "bos_id", "temperature"))
def decode_codes(model: SentenceVAE, params: Any, z: Optional[jax.Array], key: jax.Array, *,
                 batch: int, max_len: int, bos_id: int, eos_id: int, pad_id: int,
                 temperature: float = 0.0) -> jax.Array:
  """``[B, max_len]`` sentences decoded from codes ``z`` (``None``: the RNN LM), greedily or
  sampled, each stopping at its ``<eos>``."""
  carry = model.apply({"params": params}, z, batch, method=SentenceVAE.start)
  step = lambda c, t: model.apply({"params": params}, c, t, method=SentenceVAE.step)
  first = jnp.full((batch,), bos_id, jnp.int32)
  out, _ = decode.sample(step, carry, first, max_len, key=key, temperature=temperature,
                         eos_id=eos_id, pad_id=pad_id)
  return out


def decode_batch_size(z: Optional[jax.Array], n: int) -> int:
  return int(z.shape[0]) if z is not None else n


def sample_prior(model: SentenceVAE, params: Any, vocab: Vocabulary, num: int, key: jax.Array,
                 *, temperature: float = 0.0, max_len: int = 40) -> list[str]:
  """``num`` sentences: from ``z ~ N(0, I)`` for a VAE, from the LM itself otherwise."""
  pad, bos, eos = _specials(vocab)
  z_key, key = jax.random.split(key)
  z = jax.random.normal(z_key, (num, model.latent_size)) if model.latent_size else None
  out = decode_codes(model, params, z, key, batch=num, max_len=max_len, bos_id=bos, eos_id=eos,
                     pad_id=pad, temperature=temperature)
  return [to_text(row, vocab) for row in np.asarray(out)]


def homotopy(model: SentenceVAE, params: Any, vocab: Vocabulary, a: np.ndarray, b: np.ndarray,
             *, steps: int = 5, max_len: int = 40) -> list[str]:
  """Greedy decodings of ``z_t = (1 − t) μ(a) + t μ(b)`` for ``t`` in ``steps`` points of
  ``[0, 1]``."""
  if not model.latent_size:
    raise ValueError("homotopy needs a latent code (the RNN LM has none)")
  pad, bos, eos = _specials(vocab)
  mu = posterior_mean(model, params, [a, b], vocab)
  t = jnp.linspace(0.0, 1.0, steps)[:, None]
  z = (1 - t) * mu[0][None] + t * mu[1][None]
  out = decode_codes(model, params, z, jax.random.key(0), batch=steps, max_len=max_len,
                     bos_id=bos, eos_id=eos, pad_id=pad)
  return [to_text(row, vocab) for row in np.asarray(out)]


def impute(model: SentenceVAE, params: Any, vocab: Vocabulary, sents: Sequence[np.ndarray],
           missing: int, *, beam_size: int = 10) -> dict[str, Any]:
  """Fills the last ``missing`` words of each sentence (each must have more words than that).

  Returns ``completions [N, missing]`` (the beam's best), ``scores [N]`` (their log-likelihood
  with ``<eos>`` after them), ``reference [N]`` (the log-likelihood of the true last words and
  ``<eos>``), all given the prefix (and, for a VAE, ``z`` = the prefix's posterior mean).
  """
  pad, bos, eos = _specials(vocab)
  for i, s in enumerate(sents):
    if len(s) <= missing:
      raise ValueError(f"impute: sentence {i} has {len(s)} words; it needs more than "
                       f"missing={missing}")
  prefixes = [np.asarray(s[:len(s) - missing]) for s in sents]
  z = posterior_mean(model, params, prefixes, vocab, with_eos=False) if model.latent_size else None
  inputs, lengths = _pad(prefixes, pad, front=bos)
  return _impute(model, params, z, inputs, lengths, _pad(sents, pad, front=bos)[0],
                 _pad(sents, pad, back=eos)[0], missing=missing, beam_size=beam_size,
                 banned=(pad, bos, eos), eos_id=eos)


@functools.partial(jax.jit, static_argnames=("model", "missing", "beam_size", "banned",
                                             "eos_id"))
def _impute(model, params, z, inputs, lengths, full_inputs, full_targets, *, missing, beam_size,
            banned, eos_id):
  apply = lambda method, *args: model.apply({"params": params}, *args, method=method)
  logits, carry = apply(SentenceVAE.read, inputs, lengths, z)
  step = lambda c, t: apply(SentenceVAE.step, c, t)
  tokens, scores = decode.fixed_length_beam(step, carry, logits, missing, beam_size=beam_size,
                                            banned=banned, end_id=eos_id)
  # The reference completion: the true words and <eos> after the same prefix and z.
  full = apply(SentenceVAE.decode, full_inputs, z)
  logp = jnp.take_along_axis(jax.nn.log_softmax(full.astype(jnp.float32), -1),
                             full_targets[..., None], -1)[..., 0]
  t = jnp.arange(full_targets.shape[1])[None, :]
  end = lengths[:, None] - 1 + missing  # the <eos> position of each sentence
  window = (t >= lengths[:, None] - 1) & (t <= end)
  reference = jnp.sum(jnp.where(window, logp, 0.0), axis=1)
  return {"completions": tokens[:, 0], "scores": scores[:, 0], "reference": reference}


def imputation_summary(sents: Sequence[np.ndarray], out: dict, missing: int) -> dict:
  truth = np.stack([np.asarray(s[len(s) - missing:]) for s in sents])
  got = np.asarray(out["completions"])
  return {"sentences": len(sents), "missing": missing,
          "word_accuracy": float(np.mean(got == truth)),
          "exact": float(np.mean(np.all(got == truth, axis=1))),
          "completion_loglik": float(np.mean(np.asarray(out["scores"]))),
          "reference_loglik": float(np.mean(np.asarray(out["reference"])))}


def impute_candidates(sents: Sequence[np.ndarray], num: int, missing: int,
                      max_words: int = 20) -> list[np.ndarray]:
  """The first ``num`` sentences (in split order) with ``missing + 3`` to ``max_words`` words."""
  picked = [s for s in sents if missing + 3 <= len(s) <= max_words]
  return picked[:num]


# ---- the end-of-run report ------------------------------------------------------------------
def plot_curves(workdir: str, path: str) -> bool:
  """The KL and reconstruction terms over training (train: every logged step; validation:
  every evaluation), with the KL weight, as the paper's Figure 2. False without a KL."""
  from seqjax.train.writer import read_metrics  # pylint: disable=g-import-not-at-top
  rows = read_metrics(workdir)
  train = [r for r in rows if r.get("split") == "train" and "kl" in r]
  valid = [r for r in rows if r.get("split") in ("eval", "validation") and "kl" in r]
  if not train:
    return False
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, (ax_kl, ax_rec) = plt.subplots(1, 2, figsize=(11, 3.8))
  steps = [r["step"] for r in train]
  ax_kl.plot(steps, [r["kl"] for r in train], lw=0.8, label="KL (train)")
  if valid:
    ax_kl.plot([r["step"] for r in valid], [r["kl"] for r in valid], "o-", label="KL (valid)")
  ax_kl.set_xlabel("step")
  ax_kl.set_ylabel("KL term (nats / sentence)")
  weight = ax_kl.twinx()
  weight.plot(steps, [r.get("kl_weight", 1.0) for r in train], "k--", lw=0.8,
              label="KL weight")
  weight.set_ylabel("KL weight")
  weight.set_ylim(0, 1.05)
  ax_kl.legend(loc="upper left", fontsize=8)
  weight.legend(loc="lower right", fontsize=8)
  ax_rec.plot(steps, [r["recon"] for r in train], lw=0.8, label="reconstruction (train)")
  if valid:
    ax_rec.plot([r["step"] for r in valid], [r["recon"] for r in valid], "o-",
                label="reconstruction (valid)")
  ax_rec.set_xlabel("step")
  ax_rec.set_ylabel("−log p(x|z) (nats / sentence)")
  ax_rec.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True


def report(run: Any, params: Any, result: dict) -> None:
  """Samples, homotopies and imputations of the final model, written to ``samples.txt`` and
  ``results.json``; the KL/reconstruction curves to ``kl_recon.png``."""
  config, model, log = run.config, run.model, run.log
  corpus = run.data.extra["corpus"]
  vocab = corpus.vocab
  e, s = config.eval, config.sample
  lines = []
  if s.num:
    key = jax.random.fold_in(jax.random.key(config.seed), 7)
    samples = sample_prior(model, params, vocab, s.num, key, temperature=s.temperature,
                           max_len=e.max_decode_length)
    result["samples"] = samples
    lines += ["# samples" + (" from the prior" if model.latent_size else "")] + samples + [""]
  if e.num_homotopies and model.latent_size:
    pool = [x for x in corpus.splits["test"] if 5 <= len(x) <= 15]
    rng = np.random.default_rng(config.seed)
    result["homotopies"] = []
    for _ in range(e.num_homotopies):
      i, j = rng.choice(len(pool), 2, replace=False)
      path = homotopy(model, params, vocab, pool[i], pool[j], steps=e.homotopy_steps,
                      max_len=e.max_decode_length)
      result["homotopies"].append({"from": to_text(pool[i], vocab),
                                   "to": to_text(pool[j], vocab), "path": path})
      lines += ["# homotopy", f"from: {to_text(pool[i], vocab)}"] + path + [
          f"to:   {to_text(pool[j], vocab)}", ""]
  if e.impute_sentences:
    sents = impute_candidates(corpus.splits["test"], e.impute_sentences, e.impute_missing)
    out = impute(model, params, vocab, sents, e.impute_missing, beam_size=e.beam_size)
    summary = imputation_summary(sents, out, e.impute_missing)
    result["impute"] = summary
    log("imputation of the last {missing} words of {sentences} test sentences: word accuracy "
        "{word_accuracy:.3f}, exact {exact:.3f}, mean log-likelihood of the completion "
        "{completion_loglik:.2f} (reference {reference_loglik:.2f})".format(**summary))
    lines.append("# imputation (prefix ... | imputed | reference)")
    for k in range(min(10, len(sents))):
      n = len(sents[k]) - e.impute_missing
      lines.append(f"{to_text(sents[k][:n], vocab)} | "
                   f"{to_text(np.asarray(out['completions'][k]), vocab)} | "
                   f"{to_text(sents[k][n:], vocab)}")
  if lines and jax.process_index() == 0:
    with open(os.path.join(run.workdir, "samples.txt"), "w", encoding="utf-8") as f:
      f.write("\n".join(lines) + "\n")
    log("\n".join(lines[:24]))
  if jax.process_index() == 0 and plot_curves(run.workdir,
                                              os.path.join(run.workdir, "kl_recon.png")):
    result["curves"] = "kl_recon.png"


# ---- the CLI --------------------------------------------------------------------------------
FLAGS = flags.FLAGS
MODES = ("sample", "homotopy", "impute")


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "A trained experiments.vae workdir.")
  flags.DEFINE_enum("mode", "sample", MODES, "What to generate.")
  flags.DEFINE_integer("num", 10, "Samples (sample) or test sentences (impute).")
  flags.DEFINE_float("temperature", 0.0, "sample: 0 is greedy decoding of each z.")
  flags.DEFINE_string("sentences", "", "homotopy: two sentences separated by '|' (default: two "
                      "test sentences).")
  flags.DEFINE_integer("steps", 5, "homotopy: points on the line, ends included.")
  flags.DEFINE_integer("missing", 3, "impute: words to fill at the end of each sentence.")
  flags.DEFINE_integer("beam_size", 10, "impute: beam width.")
  flags.DEFINE_string("baseline_workdir", "", "impute: a second trained workdir (e.g. the RNN "
                      "LM) imputing the same sentences, shown beside.")
  flags.DEFINE_string("data_manual_dir", "", "impute/homotopy: data.manual_dir for the test "
                      "sentences (default: the run's own).")
  flags.DEFINE_integer("max_length", 40, "Longest decoded sentence (tokens).")
  flags.DEFINE_integer("seed", 0, "Random seed.")
  flags.mark_flag_as_required("workdir")


def check_flags() -> None:
  for name, low in (("num", 1), ("steps", 2), ("missing", 1), ("beam_size", 1),
                    ("max_length", 1)):
    if getattr(FLAGS, name) < low:
      raise ValueError(f"--{name} must be >= {low}; got {getattr(FLAGS, name)}")
  if not 0 <= FLAGS.temperature < float("inf"):
    raise ValueError(f"--temperature must be a finite number >= 0; got {FLAGS.temperature}")


def _test_sentences(restored, vocab: Vocabulary) -> list[np.ndarray]:
  from experiments.vae import task as task_lib  # pylint: disable=g-import-not-at-top
  config = restored.config
  if FLAGS.data_manual_dir:
    config = config.copy_and_resolve_references()
    config.data.manual_dir = FLAGS.data_manual_dir
  return task_lib.load(config, vocab).splits["test"]


def encode_text(text: str, vocab: Vocabulary, flag: str) -> np.ndarray:
  """Word ids of ``text``; words outside the vocabulary become ``<unk>``, and stderr says
  which."""
  words = text.split()
  if not words:
    raise ValueError(f"{flag}: an empty sentence")
  unknown = [w for w in words if w not in vocab.ids]
  if unknown:
    sys.stderr.write(f"note: {flag}: not in the vocabulary, read as {vocab.unk}: "
                     f"{' '.join(unknown)}\n")
  return vocab.encode(words).astype(np.int32)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  from experiments.vae.task import TASK  # pylint: disable=g-import-not-at-top
  from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
  check_flags()
  run = trainer.restore(TASK, FLAGS.workdir)
  vocab = Vocabulary.from_json(run.meta["vocab"])
  key = jax.random.key(FLAGS.seed)
  if FLAGS.mode == "sample" and not run.model.latent_size and FLAGS.temperature == 0 \
      and FLAGS.num > 1:
    raise ValueError(f"--temperature=0 with an RNN LM (--workdir={FLAGS.workdir}) decodes the "
                     f"same sentence {FLAGS.num} times; set --temperature > 0")
  if FLAGS.mode == "sample":
    for line in sample_prior(run.model, run.params, vocab, FLAGS.num, key,
                             temperature=FLAGS.temperature, max_len=FLAGS.max_length):
      print(line)
  elif FLAGS.mode == "homotopy":
    if not run.model.latent_size:
      raise ValueError(f"--mode=homotopy: --workdir={FLAGS.workdir} is an RNN LM (no latent "
                       "code)")
    if FLAGS.sentences:
      parts = FLAGS.sentences.split("|")
      if len(parts) != 2:
        raise ValueError("--sentences: give two sentences separated by '|'")
      a, b = (encode_text(p, vocab, "--sentences") for p in parts)
    else:
      pool = [x for x in _test_sentences(run, vocab) if 5 <= len(x) <= 15]
      a, b = (pool[i] for i in np.random.default_rng(FLAGS.seed).choice(len(pool), 2, False))
    print(f"from: {to_text(a, vocab)}")
    for line in homotopy(run.model, run.params, vocab, a, b, steps=FLAGS.steps,
                         max_len=FLAGS.max_length):
      print(f"      {line}")
    print(f"to:   {to_text(b, vocab)}")
  else:
    sents = impute_candidates(_test_sentences(run, vocab), FLAGS.num, FLAGS.missing)
    if not sents:
      raise ValueError(f"--missing={FLAGS.missing} leaves no test sentence to impute (it takes "
                       "sentences of --missing + 3 to 20 words)")
    models = [(FLAGS.workdir, run)]
    if FLAGS.baseline_workdir:
      other = trainer.restore(TASK, FLAGS.baseline_workdir)
      if other.meta["vocab"]["tokens"] != run.meta["vocab"]["tokens"]:
        raise ValueError(f"--baseline_workdir={FLAGS.baseline_workdir} has another vocabulary")
      models.append((FLAGS.baseline_workdir, other))
    outs = [impute(r.model, r.params, vocab, sents, FLAGS.missing, beam_size=FLAGS.beam_size)
            for _, r in models]
    for k, s in enumerate(sents):
      n = len(s) - FLAGS.missing
      print(f"{to_text(s[:n], vocab)} ___  (reference: {to_text(s[n:], vocab)}, "
            + ", ".join(f"{float(o['reference'][k]):.2f}" for o in outs) + ")")
      for (name, _), o in zip(models, outs):
        print(f"  {os.path.basename(name.rstrip('/'))}: "
              f"{to_text(np.asarray(o['completions'][k]), vocab)}  ({float(o['scores'][k]):.2f})")
    for (name, _), o in zip(models, outs):
      print(json.dumps({"workdir": name, **imputation_summary(sents, o, FLAGS.missing)}))


if __name__ == "__main__":
  define_flags()
  from experiments import common  # pylint: disable=g-import-not-at-top
  common.run(main)
