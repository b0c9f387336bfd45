"""Translation training and evaluation: ``train_and_evaluate(config, workdir)``.

Every evaluation scores validation perplexity and greedy BLEU; the best checkpoint is kept by
``train.best_metric`` (BLEU by default). At the end the best checkpoint translates validation
and the ``decode.test_splits`` greedily and with beam search; each gets perplexity, corpus
BLEU (sacrebleu, with its signature) and a translation file, and the first test split's
``decode.plot_examples`` get attention heat maps. The trainer never reads flags.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from experiments import common
from experiments.translate.configs import base
from seqjax import diagnostics, metrics, parallel
from seqjax.cells import CELLS
from seqjax.data import translation as data_lib
from seqjax.nn import seq2seq
from seqjax.train import checkpoint, config as config_lib, optim
from seqjax.train import translate as translate_lib
from seqjax.train.loop import fit, print_flush
from seqjax.train.state import TrainState


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ``ValueError``/``FileNotFoundError`` naming the first bad config value."""
  config_lib.check_keys(config, base.get_config(), free=("model.cell_options",))
  d, m, t, dec = config.data, config.model, config.train, config.decode
  choices = {"data.name": (d.name, sorted(data_lib.BUILDERS)),
             "data.source_lang": (d.source_lang, data_lib.LANGUAGES),
             "data.target_lang": (d.target_lang, data_lib.LANGUAGES),
             "data.tokenizer": (d.tokenizer, sorted(data_lib.TOKENIZERS)),
             "data.model_type": (d.model_type, ("unigram", "bpe")),
             "model.cell": (m.cell, sorted(CELLS)),
             "model.bridge": (m.bridge, seq2seq.BRIDGES),
             "model.attention": (m.attention, seq2seq.ATTENTIONS),
             "model.style": (m.style, seq2seq.STYLES),
             "train.best_metric": (t.best_metric, ("bleu", "loss")),
             "optimizer.name": (config.optimizer.name, optim.OPTIMIZERS),
             "optimizer.schedule": (config.optimizer.schedule, optim.SCHEDULES)}
  common.check_choices(choices)
  if d.source_lang == d.target_lang:
    raise ValueError(f"data.source_lang and data.target_lang must differ; both are "
                     f"{d.source_lang!r}")
  positive = {"model.embed_size": m.embed_size, "model.hidden_size": m.hidden_size,
              "model.encoder_layers": m.encoder_layers, "model.decoder_layers": m.decoder_layers,
              "train.batch_size": t.batch_size, "train.eval_batch_size": t.eval_batch_size,
              "train.log_every": t.log_every, "train.checkpoint_every": t.checkpoint_every,
              "data.bucket_chunk": d.bucket_chunk, "data.pad_multiple": d.pad_multiple,
              "data.min_freq": d.min_freq, "data.vocab_size": d.vocab_size,
              "decode.beam_size": dec.beam_size}
  common.check_positive_ints(positive)
  for key in ("dropout_rate", "rnn_dropout_rate"):
    if not 0.0 <= m[key] < 1.0:
      raise ValueError(f"model.{key} must be in [0, 1); got {m[key]!r}")
  if not 0.0 <= m.teacher_forcing_ratio <= 1.0:
    raise ValueError(f"model.teacher_forcing_ratio must be in [0, 1]; got "
                     f"{m.teacher_forcing_ratio!r}")
  if m.input_feeding and (m.style != "luong" or m.attention == "none"):
    raise ValueError("model.input_feeding needs model.style='luong' and an attention")
  if m.bridge == "last" and m.encoder_layers != m.decoder_layers:
    raise ValueError("model.bridge='last' needs model.encoder_layers == model.decoder_layers")
  if m.bridge == "last":
    out = m.hidden_size * (2 if m.bidirectional else 1)
    if (m.decoder_hidden_size or m.hidden_size) != out:
      raise ValueError(f"model.bridge='last' needs the decoder hidden size to equal the encoder "
                       f"output size {out}; set model.decoder_hidden_size={out}")
  if not 0.0 <= t.label_smoothing < 1.0:
    raise ValueError(f"train.label_smoothing must be in [0, 1); got {t.label_smoothing!r}")
  common.check_num_steps(config.train)
  if dec.max_len_a < 0 or dec.max_len_b < 0 or dec.alpha < 0:
    raise ValueError("decode.max_len_a, decode.max_len_b and decode.alpha must be >= 0")
  unknown = [s for s in dec.test_splits if s not in data_lib.MULTI30K_SPLITS or s == "train"]
  if unknown:
    raise ValueError(f"decode.test_splits has unknown splits {unknown}; choose from "
                     f"{[s for s in data_lib.MULTI30K_SPLITS if s != 'train']}")
  if d.manual_dir:
    if not os.path.isdir(d.manual_dir):
      raise FileNotFoundError(f"data.manual_dir={d.manual_dir!r} is not a directory")
    from seqjax.data.builders import find_local_files  # pylint: disable=g-import-not-at-top
    find_local_files(d.manual_dir, data_lib.multi30k_files())


def tokenizer_options(config: ml_collections.ConfigDict) -> data_lib.TokenizerOptions:
  d = config.data
  return data_lib.TokenizerOptions(kind=d.tokenizer, lowercase=d.lowercase, min_freq=d.min_freq,
                                   max_vocab=d.max_vocab, vocab_size=d.vocab_size,
                                   model_type=d.model_type)


def build_model(config: ml_collections.ConfigDict, src_vocab: int,
                tgt_vocab: int) -> seq2seq.Seq2Seq:
  m = config.model
  return seq2seq.Seq2Seq(
      src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, embed_size=m.embed_size, cell=m.cell,
      hidden_size=m.hidden_size, encoder_layers=m.encoder_layers, bidirectional=m.bidirectional,
      decoder_hidden_size=m.decoder_hidden_size, decoder_layers=m.decoder_layers,
      bridge=m.bridge, attention=m.attention, attention_size=m.attention_size, style=m.style,
      input_feeding=m.input_feeding, reverse_source=m.reverse_source,
      dropout_rate=m.dropout_rate, rnn_dropout_rate=m.rnn_dropout_rate,
      teacher_forcing_ratio=m.teacher_forcing_ratio, init_scale=m.init_scale or None,
      cell_options=dict(m.cell_options), unroll=m.unroll)


def load_data(config: ml_collections.ConfigDict, tokenizers: tuple[Any, Any] | None = None,
              splits: Any = None) -> data_lib.ParallelData:
  d = config.data
  return data_lib.load_parallel(d.name, d.source_lang, d.target_lang, tokenizer_options(config),
                                data_dir=d.data_dir or None, manual_dir=d.manual_dir or None,
                                tokenizers=tokenizers, max_length=d.max_length, splits=splits,
                                seed=config.seed)


def init_state(config: ml_collections.ConfigDict, model, optimizer) -> TrainState:
  init_key, train_key = jax.random.split(jax.random.PRNGKey(config.seed))
  src = jnp.full((2, 4), data_lib.EOS_ID, jnp.int32)
  params = model.init(init_key, src, jnp.full((2,), 4, jnp.int32), src)["params"]
  return TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                    opt_state=optimizer.init(params), key=train_key)


def tokenizers_from_meta(meta: dict) -> tuple[Any, Any]:
  return (data_lib.tokenizer_from_json(meta["src_tokenizer"]),
          data_lib.tokenizer_from_json(meta["tgt_tokenizer"]))


def restore(workdir: str, which: str = "best"):
  """``(config, src_tokenizer, tgt_tokenizer, model, params)`` of a trained workdir."""
  meta, config = common.read_run(workdir, which)
  src_tok, tgt_tok = tokenizers_from_meta(meta)
  model = build_model(config, len(src_tok), len(tgt_tok))
  optimizer = optim.make_optimizer(config.optimizer, 1, config.optimizer.warmup_steps + 2)
  params = common.restore_params(workdir, init_state(config, model, optimizer), which)
  return config, src_tok, tgt_tok, model, params


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


def plot_examples(config, model, params, data: data_lib.ParallelData, split: str, ids: list,
                  out_dir: str) -> list[str]:
  paths = []
  for i in config.decode.plot_examples:
    if not 0 <= i < len(data.splits[split]):
      raise ValueError(f"decode.plot_examples: {i} is not an example of {split}")
    src = data.splits[split].src[i]
    tgt = data_lib.strip_special(ids[i])
    weights = translate_lib.attention_weights(model, params, src, tgt)
    source = data.src_tokenizer.pieces(src)
    target = data.tgt_tokenizer.pieces(tgt) + [data_lib.EOS]
    path = os.path.join(out_dir, f"attention_{split}_{i}.png")
    title = f"{data.splits[split].src_text[i]}\n-> {data.tgt_tokenizer.decode(tgt)}"
    paths.append(diagnostics.plot_attention(weights, source, target, path, title=title))
  return paths


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] = print_flush) -> dict[str, Any]:
  """Trains, keeps the best checkpoint, then translates validation and the test splits with
  it. Returns a summary (also ``workdir/results.json``)."""
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  saved = checkpoint.resume_meta(workdir)
  tokenizers = tokenizers_from_meta(saved) if saved else None
  t, d, dec = config.train, config.data, config.decode
  wanted = ["train", "validation"] + [s for s in dec.test_splits]
  data = load_data(config, tokenizers, splits=wanted)
  sizes = ", ".join(f"{s} {len(x):,}" for s, x in data.splits.items())
  log(f"{d.name} {d.source_lang}->{d.target_lang}: {d.tokenizer} vocabularies "
      f"{len(data.src_tokenizer):,} / {len(data.tgt_tokenizer):,}; {sizes} pairs")

  par = common.data_parallel(config, log=log)
  bucket = dict(bucket_chunk=d.bucket_chunk, pad_multiple=d.pad_multiple)
  train_batches = data_lib.PairBatches(data.splits["train"], t.batch_size, shuffle=True,
                                       seed=config.seed, shard=parallel.shard_options(), **bucket)
  eval_batches = {s: data_lib.PairBatches(split, t.eval_batch_size, shuffle=False, **bucket)
                  for s, split in data.splits.items() if s != "train"}
  steps_per_epoch = len(train_batches)
  num_steps = t.num_steps or t.num_epochs * steps_per_epoch

  model = build_model(config, len(data.src_tokenizer), len(data.tgt_tokenizer))
  optimizer = optim.make_optimizer(config.optimizer, steps_per_epoch, num_steps)
  state = par.put_state(init_state(config, model, optimizer))
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  log(f"model: {config.model.cell} seq2seq, attention {config.model.attention}, "
      f"{n_params:,} parameters; {steps_per_epoch} steps per epoch, {num_steps} steps")
  example = {**next(iter(train_batches.dataset(0))), "epoch": 0}
  train_step = par.jit_train_step(
      translate_lib.make_train_step(model, optimizer, label_smoothing=t.label_smoothing), state,
      example, t.batch_size)
  eval_step = jax.jit(translate_lib.make_eval_step(model))
  decode_args = dict(alpha=dec.alpha, max_len_a=dec.max_len_a, max_len_b=dec.max_len_b)
  greedy = translate_lib.make_translator(model, beam_size=1, **decode_args)
  beam = translate_lib.make_translator(model, beam_size=dec.beam_size, **decode_args)

  def translate(params, split, translator):
    ids = translate_lib.translate_batches(translator, params, eval_batches[split].epoch_batches(),
                                          len(data.splits[split]))
    return ids, score_translations(config, data.tgt_tokenizer, data.splits[split], ids)

  def evaluate(state, split="validation"):
    scores = translate_lib.evaluate(eval_step, state.params, eval_batches[split].epoch_batches())
    if t.best_metric == "bleu":
      scores["bleu"] = translate(state.params, split, greedy)[1][1]
    return scores

  options = common.loop_options(t, num_steps, steps_per_epoch, best_metric=t.best_metric,
                                best_mode="max" if t.best_metric == "bleu" else "min")
  meta = {"config": config.to_json(), "src_tokenizer": data.src_tokenizer.to_json(),
          "tgt_tokenizer": data.tgt_tokenizer.to_json()}
  state, summary = fit(state, train_step=train_step,
                       batches=par.batches(train_batches, t.batch_size), options=options,
                       workdir=workdir, evaluate=evaluate, meta=meta, log=log)
  result: dict[str, Any] = {"stopped": summary["stopped"], "best_step": summary["best_step"],
                            "steps": int(state.step), "steps_per_epoch": steps_per_epoch}
  if not t.test_at_end:
    return result
  ckpt = checkpoint.Checkpointer(workdir)
  best, _, _ = ckpt.restore(state, which="best")
  ckpt.close()
  out_dir = os.path.join(workdir, "translations")
  os.makedirs(out_dir, exist_ok=True)
  for split in eval_batches:
    scores = translate_lib.evaluate(eval_step, best.params, eval_batches[split].epoch_batches())
    for name, translator in (("greedy", greedy), (f"beam{dec.beam_size}", beam)):
      start = time.time()
      ids, (hypotheses, bleu, signature) = translate(best.params, split, translator)
      scores[f"bleu_{name}"] = bleu
      scores[f"seconds_{name}"] = round(time.time() - start, 1)
      with open(os.path.join(out_dir, f"{split}.{name}.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(hypotheses) + "\n")
      if name == "greedy" and split == dec.test_splits[0] and dec.plot_examples:
        scores["plots"] = plot_examples(config, model, best.params, data, split, ids, out_dir)
    scores["signature"] = signature
    result[split] = scores
    log(f"{split} (best checkpoint, step {summary['best_step']}): perplexity "
        f"{scores['perplexity']:.2f}, BLEU greedy {scores['bleu_greedy']:.2f}, beam "
        f"{dec.beam_size} {scores[f'bleu_beam{dec.beam_size}']:.2f} ({signature})")
  return common.write_results(workdir, result)
