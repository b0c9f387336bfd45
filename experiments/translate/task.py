"""The translation task: an encoder–decoder trained with teacher forcing, scored by BLEU.

The loss is the mean token cross-entropy of the reference given its prefix over the real target
tokens (``tgt_mask``), optionally label-smoothed; the logged ``loss`` is the unsmoothed NLL.
Every evaluation scores validation perplexity and, with ``train.best_metric="bleu"``, greedy
BLEU, which picks the best checkpoint. At the end the best checkpoint translates validation and
the ``decode.test_splits`` greedily and with beam search; each gets perplexity, corpus BLEU
(sacrebleu, with its signature) and a translation file, and the first test split's
``decode.plot_examples`` get attention heat maps.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax.numpy as jnp
import ml_collections

from experiments.translate import decoding
from experiments.translate.configs import base
from seqjax import diagnostics, metrics, parallel
from seqjax.data import registry, translate as data_lib
from seqjax.nn import seq2seq
from seqjax.train.losses import token_nll
from seqjax.train.task import Data, Run, Task


def tokenizer_options(config: ml_collections.ConfigDict) -> data_lib.TokenizerOptions:
  d = config.data
  return data_lib.TokenizerOptions(kind=d.tokenizer, lowercase=d.lowercase, min_freq=d.min_freq,
                                   max_vocab=d.max_vocab, vocab_size=d.vocab_size,
                                   model_type=d.model_type)


def tokenizers_from_meta(meta: dict) -> tuple[Any, Any]:
  return (data_lib.tokenizer_from_json(meta["src_tokenizer"]),
          data_lib.tokenizer_from_json(meta["tgt_tokenizer"]))


def references(config: ml_collections.ConfigDict, split: data_lib.ParallelSplit) -> list[str]:
  return [t.lower() if config.data.lowercase else t for t in split.tgt_text]


def score_translations(config, tgt_tok, split: data_lib.ParallelSplit,
                       ids: list) -> tuple[list[str], float, str]:
  """Detokenized hypotheses and their corpus BLEU against the split's raw references
  (case-insensitive when the model is trained on lowercased text)."""
  hypotheses = [tgt_tok.decode(x) for x in ids]
  score, signature = metrics.bleu(hypotheses, references(config, split),
                                  lowercase=config.data.lowercase)
  return hypotheses, score, signature


def _inputs(batch: dict):
  return batch["src"], batch["src_lengths"], batch["tgt_in"]


class TranslateTask(Task):
  name = "translate"
  base_config = base
  rnn_sections = ("model.rnn",)

  def best_metric(self, config):
    metric = config.train.best_metric
    return metric, "max" if metric == "bleu" else "min"

  def validate(self, config):
    d, m, dec = config.data, config.model, config.decode
    if d.source_lang == d.target_lang:
      raise ValueError(f"data.source_lang and data.target_lang must differ; both are "
                       f"{d.source_lang!r}")
    if not 0.0 <= m.teacher_forcing_ratio <= 1.0:
      raise ValueError(f"model.teacher_forcing_ratio must be in [0, 1]; got "
                       f"{m.teacher_forcing_ratio!r}")
    if m.input_feeding and (m.style != "luong" or m.attention == "none"):
      raise ValueError("model.input_feeding needs model.style='luong' and an attention")
    if m.bridge == "last" and m.rnn.num_layers != m.decoder_layers:
      raise ValueError("model.bridge='last' needs model.rnn.num_layers == model.decoder_layers")
    if m.bridge == "last":
      out = self.rnn(config).output_size
      if (m.decoder_hidden_size or m.rnn.hidden_size) != out:
        raise ValueError(f"model.bridge='last' needs the decoder hidden size to equal the "
                         f"encoder output size {out}; set model.decoder_hidden_size={out}")
    unknown = [s for s in dec.test_splits if s not in data_lib.MULTI30K_SPLITS or s == "train"]
    if unknown:
      raise ValueError(f"decode.test_splits has unknown splits {unknown}; choose from "
                       f"{[s for s in data_lib.MULTI30K_SPLITS if s != 'train']}")
    registry.check_manual_dir(d.manual_dir, d.name)

  def data(self, config, meta):
    d, t, dec = config.data, config.train, config.decode
    tokenizers = tokenizers_from_meta(meta) if meta else None
    wanted = ["train", "validation"] + list(dec.test_splits)
    loaded = data_lib.load_parallel(d.name, d.source_lang, d.target_lang,
                                    tokenizer_options(config), data_dir=d.data_dir or None,
                                    manual_dir=d.manual_dir or None, tokenizers=tokenizers,
                                    max_length=d.max_length, splits=wanted, seed=config.seed)
    sizes = ", ".join(f"{s} {len(x):,}" for s, x in loaded.splits.items())
    summary = (f"{d.name} {d.source_lang}->{d.target_lang}: {d.tokenizer} vocabularies "
               f"{len(loaded.src_tokenizer):,} / {len(loaded.tgt_tokenizer):,}; {sizes} pairs")
    bucket = dict(bucket_chunk=d.bucket_chunk, pad_multiple=d.pad_multiple)
    train = data_lib.pair_batches(loaded.splits["train"], t.batch_size, shuffle=True,
                                 seed=config.seed, shard=parallel.shard_options(), **bucket)
    evals = {s: data_lib.pair_batches(split, t.eval_batch_size, shuffle=False, **bucket)
             for s, split in loaded.splits.items() if s != "train"}
    meta = {"src_tokenizer": loaded.src_tokenizer.to_json(),
            "tgt_tokenizer": loaded.tgt_tokenizer.to_json()}
    return Data(train=train, evals=evals, meta=meta, steps_per_epoch=len(train),
                example={**next(iter(train.dataset(0))), "epoch": 0}, summary=summary,
                extra={"parallel_data": loaded})

  def model(self, config, meta, data=None):
    m = config.model
    src_tok, tgt_tok = tokenizers_from_meta(meta)
    return seq2seq.Seq2Seq(
        src_vocab_size=len(src_tok), tgt_vocab_size=len(tgt_tok), embed_size=m.embed_size,
        rnn=self.rnn(config), decoder_hidden_size=m.decoder_hidden_size,
        decoder_layers=m.decoder_layers, bridge=m.bridge, attention=m.attention,
        attention_size=m.attention_size, style=m.style, input_feeding=m.input_feeding,
        reverse_source=m.reverse_source, dropout_rate=m.dropout_rate,
        teacher_forcing_ratio=m.teacher_forcing_ratio)

  def init_params(self, model, key, config, meta):
    src = jnp.full((2, 4), data_lib.EOS_ID, jnp.int32)
    return model.init(key, src, jnp.full((2,), 4, jnp.int32), src)["params"]

  def describe(self, config, model):
    return f"{config.model.rnn.cell} seq2seq, attention {config.model.attention}"

  def loss(self, model, params, batch, *, key, carry, config):
    mask = batch["tgt_mask"]
    count = jnp.maximum(jnp.sum(mask), 1.0)
    logits, _ = model.apply({"params": params}, *_inputs(batch), deterministic=False,
                            rngs={"dropout": key})
    smoothing = config.train.label_smoothing
    loss = jnp.sum(token_nll(logits, batch["tgt_out"], smoothing) * mask) / count
    nll = loss if not smoothing else jnp.sum(token_nll(logits, batch["tgt_out"]) * mask) / count
    return loss, {"loss": nll, "tokens": jnp.sum(mask)}, None

  def eval_step(self, model, params, batch, carry, config):
    logits, _ = model.apply({"params": params}, *_inputs(batch))
    mask = batch["tgt_mask"]
    return {"nll": jnp.sum(token_nll(logits, batch["tgt_out"]) * mask),
            "tokens": jnp.sum(mask)}, carry

  def finalize(self, sums, split, config):
    count = float(sums["tokens"])
    if count == 0:
      raise ValueError(f"evaluate: split {split!r} has no target tokens")
    loss = float(sums["nll"]) / count
    return {"loss": loss, "perplexity": metrics.perplexity(loss, 1.0), "tokens": count}

  # -- decoding ------------------------------------------------------------------------------
  def _translators(self, run: Run) -> dict:
    if "translators" not in run.data.extra:
      dec = run.config.decode
      args = dict(alpha=dec.alpha, max_len_a=dec.max_len_a, max_len_b=dec.max_len_b)
      run.data.extra["translators"] = {
          "greedy": decoding.make_translator(run.model, beam_size=1, **args),
          f"beam{dec.beam_size}": decoding.make_translator(run.model, beam_size=dec.beam_size,
                                                           **args)}
    return run.data.extra["translators"]

  def translate(self, run: Run, params: Any, split: str, name: str = "greedy"):
    """``(token ids, (hypotheses, BLEU, signature))`` of split ``split`` decoded by ``name``."""
    data = run.data.extra["parallel_data"]
    ids = decoding.translate_batches(self._translators(run)[name], params,
                                     run.data.evals[split].epoch_batches(),
                                     len(data.splits[split]))
    return ids, score_translations(run.config, data.tgt_tokenizer, data.splits[split], ids)

  def evaluate(self, run, params, split):
    scores = super().evaluate(run, params, split)
    if run.final:
      self._decode_final(run, params, split, scores)
    elif run.config.train.best_metric == "bleu":
      scores["bleu"] = self.translate(run, params, split)[1][1]
    return scores

  def _decode_final(self, run: Run, params: Any, split: str, scores: dict) -> None:
    dec, data = run.config.decode, run.data.extra["parallel_data"]
    out_dir = os.path.join(run.workdir, "translations")
    os.makedirs(out_dir, exist_ok=True)
    for name in self._translators(run):
      start = time.time()
      ids, (hypotheses, bleu, signature) = self.translate(run, params, split, name)
      scores[f"bleu_{name}"] = bleu
      scores[f"seconds_{name}"] = round(time.time() - start, 1)
      with open(os.path.join(out_dir, f"{split}.{name}.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(hypotheses) + "\n")
      if name == "greedy" and split == dec.test_splits[0] and dec.plot_examples:
        scores["plots"] = self._plot(run, params, data, split, ids, out_dir)
    scores["signature"] = signature

  def _plot(self, run, params, data, split, ids, out_dir) -> list[str]:
    paths = []
    for i in run.config.decode.plot_examples:
      if not 0 <= i < len(data.splits[split]):
        raise ValueError(f"decode.plot_examples: {i} is not an example of {split}")
      src = data.splits[split].src[i]
      tgt = data_lib.strip_special(ids[i])
      weights = decoding.attention_weights(run.model, params, src, tgt)
      source = data.src_tokenizer.pieces(src)
      target = data.tgt_tokenizer.pieces(tgt) + [data_lib.EOS]
      path = os.path.join(out_dir, f"attention_{split}_{i}.png")
      title = f"{data.splits[split].src_text[i]}\n-> {data.tgt_tokenizer.decode(tgt)}"
      paths.append(diagnostics.plot_attention(weights, source, target, path, title=title))
    return paths

  def format_scores(self, run, split, scores, step):
    beam = f"beam{run.config.decode.beam_size}"
    return (f"{split} (best checkpoint, step {step}): perplexity {scores['perplexity']:.2f}, "
            f"BLEU greedy {scores['bleu_greedy']:.2f}, beam {run.config.decode.beam_size} "
            f"{scores[f'bleu_{beam}']:.2f} ({scores['signature']})")


TASK = TranslateTask()
