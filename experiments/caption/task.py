"""Image captioning on the one trainer: Show and Tell (Vinyals et al. 2015) and Show, Attend and
Tell (Xu et al. 2015) (``seqjax.nn.caption``), on generated scenes or on Flickr8k/30k/COCO
(``seqjax.data.captions``).

Every (image, reference caption) pair is one training example; the loss is each caption's summed
negative log-likelihood (plus ``train.attention_penalty`` times the doubly stochastic regulariser
for attention models), averaged over captions, as the paper's code; the logged ``loss`` is per
word. Evaluation reports the per-word loss and perplexity of the references and decodes every
image greedily: corpus BLEU-1..4 against all its references, CIDEr-D and, on generated scenes,
the rule-based checker's rates (``seqjax.data.captions.check_caption``):

- ``relation_stated``: captions that state a spatial relation; ``relation_correct``: captions
  whose stated relation names two objects of the image and holds (over all captions);
  ``relation_clear``: of those, the ones whose relation is the pair's clear one (the relation a
  reference would state: at least 8 pixels along its axis, more than along the other);
- ``object_precision``: named "<colour> <shape>" objects that the image has;
- ``counts_stated``: "<number> <shape>" phrases per caption; ``count_accuracy``: the fraction of
  them that are right (0 when there are none);
- ``exact``: captions identical to one of the image's references;
- at the end, for attention models: ``attention_on_object`` (``attention_on_objects``).

At the end the best checkpoint decodes validation and test greedily and with beam search
(``decode.beam_size``), writes every caption (``captions/<split>.<decoder>.jsonl``) and, for
attention models, the per-word attention strips of the first ``decode.figures`` test images.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from experiments.caption.configs import base
from seqjax import decode, diagnostics, metrics
from seqjax.data import captions as data_lib
from seqjax.data import registry
from seqjax.data.epochs import ArrayBatches, EpochBatches
from seqjax.data.vocab import Vocabulary
from seqjax.nn.caption import Captioner, attention_penalty
from seqjax.train.losses import example_nll
from seqjax.train.task import Data, InputError, Run, Task

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)


def encode_captions(captions: list[list[list[str]]], vocab: Vocabulary, max_length: int
                    ) -> tuple[np.ndarray, np.ndarray]:
  """Every reference as ``(image index [P], target ids [P, max_length + 1])``: its first
  ``max_length`` words then ``<eos>``, padded with 0."""
  images, rows = [], []
  for i, refs in enumerate(captions):
    for words in refs:
      ids = list(vocab.encode(words[:max_length])) + [EOS_ID]
      rows.append(ids + [PAD_ID] * (max_length + 1 - len(ids)))
      images.append(i)
  return np.asarray(images, np.int32), np.asarray(rows, np.int32)


def shift_right(targets: np.ndarray) -> np.ndarray:
  """The decoder's inputs: ``<bos>`` then the targets without their last position."""
  return np.concatenate([np.full((len(targets), 1), BOS_ID, targets.dtype), targets[:, :-1]],
                        axis=1)


class PairBatches(EpochBatches):
  """Batches of ``batch_size`` (image, caption) pairs, epoch ``e`` shuffled with seed
  ``(seed, e)`` (in order without ``shuffle``); the last batch of an epoch is filled with rows
  of ``weights`` 0. Rows: ``images [B, S, S, 3]``, ``tokens_in``/``targets`` ``[B, T]``,
  ``weights [B]``."""

  def __init__(self, images: np.ndarray, image_index: np.ndarray, targets: np.ndarray,
               batch_size: int, *, shuffle: bool, seed: int = 0):
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    self.images, self.image_index, self.targets = images, image_index, targets
    self.inputs = shift_right(targets)
    self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
    self._order: Optional[tuple[int, np.ndarray]] = None

  def num_batches(self, epoch: int) -> int:
    return -(-len(self.targets) // self.batch_size)

  def order(self, epoch: int) -> np.ndarray:
    if self._order is None or self._order[0] != epoch:
      n = len(self.targets)
      perm = (np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle
              else np.arange(n))
      self._order = (epoch, perm)
    return self._order[1]

  def batch(self, epoch: int, k: int) -> dict:
    rows = self.order(epoch)[k * self.batch_size:(k + 1) * self.batch_size]
    fill = self.batch_size - len(rows)
    weights = np.concatenate([np.ones(len(rows), np.float32), np.zeros(fill, np.float32)])
    rows = np.concatenate([rows, np.zeros(fill, rows.dtype)])
    return {"images": self.images[self.image_index[rows]], "tokens_in": self.inputs[rows],
            "targets": self.targets[rows], "weights": weights}


def words_of(ids, vocab: Vocabulary) -> list[str]:
  """The words of a decoded row, up to its ``<eos>`` (specials dropped)."""
  out = []
  for i in np.asarray(ids).tolist():
    if i == EOS_ID:
      break
    if i not in (PAD_ID, BOS_ID):
      out.append(vocab.tokens[i])
  return out


def make_decoder(model: Captioner, *, beam_size: int, max_len: int, alpha: float = 0.0,
                 beam_search: Optional[bool] = None) -> Callable:
  """``decode(params, images) -> tokens [B, max_len]`` (greedy for ``beam_size=1``, else the
  best beam; ``beam_search=True`` runs beam search even for one beam), jitted: at most
  ``max_len - 1`` words then ``<eos>`` (the last step may only emit ``<eos>``). Each image
  decodes alone: its caption does not depend on its batch-mates."""
  if beam_search is None:
    beam_search = beam_size > 1

  def force_end(logits, t):
    forced = jnp.full_like(logits, decode.NEG_INF).at[:, EOS_ID].set(0.0)
    return jnp.where((t + 1 >= max_len)[:, None], forced, logits)

  def run(params, images):
    variables = {"params": params}
    memory, carry = model.apply(variables, images, method=Captioner.encode)
    first = jnp.full((images.shape[0],), BOS_ID, jnp.int32)
    reads = decode.tile_beams(memory, beam_size) if beam_search else memory

    def step(state, tokens):
      carry, t = state
      logits, carry, _ = model.apply(variables, reads, carry, tokens,
                                     method=Captioner.decode_step)
      return force_end(logits, t), (carry, t + 1)

    state = (carry, jnp.zeros((images.shape[0],), jnp.int32))  # each row counts its steps
    if not beam_search:
      return decode.greedy(step, state, first, max_len, eos_id=EOS_ID, pad_id=PAD_ID)[0]
    tokens, _ = decode.beam_search(step, state, first, beam_size=beam_size, max_len=max_len,
                                   eos_id=EOS_ID, alpha=alpha, pad_id=PAD_ID)
    return tokens[:, 0]

  return jax.jit(run)


def caption_images(decoder: Callable, params: Any, images: np.ndarray, batch_size: int,
                   vocab: Vocabulary) -> list[list[str]]:
  """The caption of every image, in order (batches of ``batch_size``; the last one padded)."""
  out: list[list[str]] = []
  batches = ArrayBatches({"images": images}, batch_size, shuffle=False)
  for batch in batches.epoch_batches():
    tokens = np.asarray(decoder(params, batch["images"]))
    out += [words_of(t, vocab) for t, w in zip(tokens, batch["weights"]) if w > 0]
  return out


def caption_scores(hypotheses: list[list[str]], split: data_lib.CaptionSplit) -> dict:
  """BLEU-1..4 and CIDEr-D against every reference, exact matches and, for generated scenes,
  the checker's rates (see the module docstring)."""
  refs = split.captions
  scores = metrics.caption_bleu(hypotheses, refs)
  scores["cider"] = metrics.cider_d(hypotheses, refs)[0]
  scores["exact"] = float(np.mean([h in r for h, r in zip(hypotheses, refs)]))
  if split.scenes is not None:
    checks = [data_lib.check_caption(" ".join(h), s) for h, s in zip(hypotheses, split.scenes)]
    n = len(checks)
    scores["relation_stated"] = sum(c.relation is not None for c in checks) / n
    scores["relation_correct"] = sum(c.relation_correct for c in checks) / n
    scores["relation_clear"] = sum(c.relation_clear for c in checks) / n
    named = sum(c.named for c in checks)
    scores["object_precision"] = sum(c.present for c in checks) / named if named else 0.0
    counted = sum(c.counts for c in checks)
    scores["counts_stated"] = counted / n  # "<number> <shape>" phrases per caption
    scores["count_accuracy"] = sum(c.counts_correct for c in checks) / counted if counted else 0.0
  return scores


def apply(model, params, batch: dict, *, key: Optional[jax.Array] = None):
  rngs = {"dropout": key} if key is not None else None
  return model.apply({"params": params}, batch["images"], batch["tokens_in"],
                     deterministic=key is None, rngs=rngs)


class CaptionTask(Task):
  name = "caption"
  base_config = base
  rnn_sections = ("model.rnn",)
  resume_free = ("decode.",)

  def best_metric(self, config):
    metric = config.train.best_metric
    return (metric, "min") if metric == "loss" else (metric, "max")

  def validate(self, config):
    if config.model.rnn.bidirectional:
      raise ValueError("model.rnn.bidirectional must be False: the decoder writes left to right")
    generated = data_lib.is_generated(config.data.name)
    if generated and config.data.manual_dir:
      raise ValueError(f"data.manual_dir: {config.data.name} is generated and reads no files; "
                       "leave it empty")

  def prepare(self, config):
    spec = registry.get(config.data.name, registry.CAPTIONS)
    if not data_lib.is_generated(spec.name) and not config.data.manual_dir:
      raise InputError(f"data.manual_dir: {spec.name} needs the directory holding its files "
                       f"({spec.builder.MANUAL_DOWNLOAD_INSTRUCTIONS})")
    try:
      return registry.prepare(config.data.name, kind=registry.CAPTIONS,
                              data_dir=config.data.data_dir or None,
                              manual_dir=config.data.manual_dir or None)
    except (FileNotFoundError, ValueError) as e:
      raise InputError(str(e)) from None

  def load_splits(self, config) -> dict[str, data_lib.CaptionSplit]:
    builder = self.prepare(config)
    generated = data_lib.is_generated(config.data.name)
    splits = {}
    for split in data_lib.SPLITS:
      try:
        splits[split] = data_lib.load(builder, split, generated=generated)
      except ValueError as e:
        raise InputError(str(e)) from None
    n = config.data.train_images
    if n:
      if n > len(splits["train"]):
        raise InputError(f"data.train_images={n}: {config.data.name} has "
                         f"{len(splits['train'])} training images")
      splits["train"] = splits["train"].subset(n)
    return splits

  def data(self, config, meta):
    splits = self.load_splits(config)
    d, t = config.data, config.train
    if meta is None:
      words = (w for refs in splits["train"].captions for c in refs for w in c)
      vocab = Vocabulary.build(words, min_freq=d.min_count, specials=SPECIALS, unk=UNK)
    else:
      self.check_meta(meta, config, splits)
      vocab = Vocabulary.from_json(meta["vocab"])
    encoded = {s: encode_captions(x.captions, vocab, d.max_length) for s, x in splits.items()}
    train = PairBatches(splits["train"].images, *encoded["train"], t.batch_size, shuffle=True,
                        seed=config.seed)
    evals = {s: PairBatches(splits[s].images, *encoded[s], t.eval_batch_size, shuffle=False)
             for s in ("validation", "test")}
    counts = {s: len(x) for s, x in splits.items()}
    summary = (f"{d.name}: {counts['train']} training ({len(encoded['train'][0])} captions), "
               f"{counts['validation']} validation, {counts['test']} test images of "
               f"{splits['train'].images.shape[1]}x{splits['train'].images.shape[2]}; "
               f"{len(vocab)} words (min count {d.min_count}), captions cut at {d.max_length}")
    new_meta = {"dataset": d.name, "vocab": vocab.to_json(), "max_length": d.max_length,
                "image_size": int(splits["train"].images.shape[1])}
    return Data(train=train, evals=evals, meta=new_meta, steps_per_epoch=len(train),
                example={**train.batch(0, 0), "epoch": 0}, summary=summary,
                tokens_per_step=t.batch_size * (d.max_length + 1),
                extra={"splits": splits, "vocab": vocab})

  def check_meta(self, meta: dict, config, splits) -> None:
    size = int(splits["train"].images.shape[1])
    if meta.get("dataset") != config.data.name or meta.get("image_size") != size:
      raise InputError(f"the checkpoint was trained on {meta.get('dataset')} images of "
                       f"{meta.get('image_size')} pixels, not {config.data.name} of {size}")

  def model(self, config, meta, data=None):
    m = config.model
    return Captioner(vocab_size=len(meta["vocab"]["tokens"]), kind=m.kind, image_as=m.image_as,
                     channels=tuple(m.channels), norm=m.norm, invert=m.invert,
                     embed_size=m.embed_size, rnn=self.rnn(config),
                     attention_size=m.attention_size, gate=m.gate,
                     attend_from=m.get("attend_from", "previous"),
                     dropout_rate=m.dropout_rate)

  def init_params(self, model, key, config, meta):
    size = meta["image_size"]
    images = np.zeros((2, size, size, 3), np.uint8)
    return model.init(key, images, np.zeros((2, 2), np.int32))["params"]

  def describe(self, config, model):
    m = config.model
    name = ("Show, Attend and Tell" if m.kind == "attend_tell"
            else f"Show and Tell (image as {m.image_as.replace('_', ' ')})")
    if m.kind == "attend_tell" and m.get("attend_from", "previous") == "current":
      name += " (attending from h_t)"
    return f"{name}, {m.rnn.cell} {m.rnn.num_layers}x{m.rnn.hidden_size} decoder"

  def loss(self, model, params, batch, *, key, carry, config):
    logits, alphas, betas = apply(model, params, batch, key=key)
    w = batch["weights"]
    mask = (batch["targets"] != PAD_ID).astype(jnp.float32) * w[:, None]
    nll = jnp.sum(example_nll(logits, batch["targets"]) * mask)
    captions = jnp.maximum(jnp.sum(w), 1.0)
    words = jnp.maximum(jnp.sum(mask), 1.0)
    objective = nll / captions
    out = {"loss": nll / words}
    if config.model.kind == "attend_tell":
      penalty = jnp.sum(attention_penalty(alphas, mask) * w) / captions
      objective = objective + config.train.attention_penalty * penalty
      out["attention_penalty"] = penalty
      out["beta"] = jnp.sum(betas * mask) / words
    return objective, out, None

  def derive(self, metrics_, config):
    return {"perplexity": float(np.exp(min(float(metrics_["loss"]), 50.0)))}

  def eval_step(self, model, params, batch, carry, config):
    logits, _, _ = apply(model, params, batch)
    mask = (batch["targets"] != PAD_ID).astype(jnp.float32) * batch["weights"][:, None]
    return {"nll": jnp.sum(example_nll(logits, batch["targets"]) * mask),
            "words": jnp.sum(mask)}, carry

  def finalize(self, sums, split, config):
    words = float(sums["words"])
    if words == 0:
      raise ValueError(f"evaluate: split {split!r} has no captions")
    loss = float(sums["nll"]) / words
    return {"loss": loss, "perplexity": metrics.perplexity(loss, 1.0), "words": words}

  # ---- decoding ------------------------------------------------------------------------------
  def decoders(self, run: Run) -> dict[str, Callable]:
    if "decoders" not in run.data.extra:
      dec, max_len = run.config.decode, run.config.data.max_length + 1
      run.data.extra["decoders"] = {
          "greedy": make_decoder(run.model, beam_size=1, max_len=max_len)}
      if dec.beam_size > 1:
        run.data.extra["decoders"][f"beam{dec.beam_size}"] = make_decoder(
            run.model, beam_size=dec.beam_size, max_len=max_len, alpha=dec.alpha)
    return run.data.extra["decoders"]

  def caption_split(self, run: Run, params: Any, split: str, name: str = "greedy"):
    data = run.data.extra["splits"][split]
    hyps = caption_images(self.decoders(run)[name], params, data.images,
                          run.config.train.eval_batch_size, run.data.extra["vocab"])
    return hyps, caption_scores(hyps, data)

  def evaluate(self, run, params, split):
    scores = super().evaluate(run, params, split)
    if run.final:
      out_dir = os.path.join(run.workdir, "captions")
      os.makedirs(out_dir, exist_ok=True)
      data = run.data.extra["splits"][split]
      for name in self.decoders(run):
        start = time.time()
        hyps, s = self.caption_split(run, params, split, name)
        scores.update({f"{k}_{name}": v for k, v in s.items()})
        scores[f"seconds_{name}"] = round(time.time() - start, 1)
        with open(os.path.join(out_dir, f"{split}.{name}.jsonl"), "w", encoding="utf-8") as f:
          for i, h in enumerate(hyps):
            f.write(json.dumps({"image": data.filenames[i], "caption": " ".join(h),
                                "references": [" ".join(r) for r in data.captions[i]]}) + "\n")
        attends = run.config.model.kind == "attend_tell"
        if name == "greedy" and data.scenes is not None and attends:
          scores.update(attention_on_objects(run.model, params, data, hyps,
                                             run.data.extra["vocab"],
                                             run.config.train.eval_batch_size))
      scores.update({k: scores[f"{k}_greedy"] for k in ("bleu4", "cider")})
    elif run.config.train.best_metric != "loss":
      scores.update(self.caption_split(run, params, split)[1])
    return scores

  def format_scores(self, run, split, scores, step):
    lines = [f"{split} (best checkpoint, step {step}): perplexity {scores['perplexity']:.3f}"]
    for name in self.decoders(run):
      s = {k[:-len(name) - 1]: v for k, v in scores.items() if k.endswith("_" + name)}
      line = (f"  {name}: BLEU-1..4 {s['bleu1']:.1f} {s['bleu2']:.1f} {s['bleu3']:.1f} "
              f"{s['bleu4']:.1f}, CIDEr-D {s['cider']:.3f}, exact {s['exact']:.3f}")
      if "relation_correct" in s:
        line += (f", relation stated {s['relation_stated']:.3f} correct "
                 f"{s['relation_correct']:.3f} clear {s['relation_clear']:.3f}, objects "
                 f"{s['object_precision']:.3f}, counts "
                 f"{s['count_accuracy']:.3f}")
      lines.append(line)
    if "attention_on_object" in scores:
      lines.append(f"  attention on the object named: {scores['attention_on_object']:.3f} (first "
                   f"{scores['attention_on_object_first']:.3f}, second "
                   f"{scores['attention_on_object_second']:.3f})")
    return "\n".join(lines)

  # ---- the end of a run ----------------------------------------------------------------------
  def report(self, run, state, result):
    n = run.config.decode.figures
    if not (run.workdir and n and jax.process_index() == 0):
      return
    data = run.data.extra["splits"]["test"]
    vocab = run.data.extra["vocab"]
    picks = list(range(min(n, len(data))))
    hyps = caption_images(self.decoders(run)["greedy"], state.params, data.images[picks],
                          len(picks), vocab)
    paths = [captions_figure(data, picks, hyps, os.path.join(run.workdir, "captions.png"),
                             title=self.describe(run.config, run.model))]
    if run.config.model.kind == "attend_tell":
      for i, words in zip(picks, hyps):
        weights = attention_weights(run.model, state.params, data.images[i], words, vocab)
        paths.append(diagnostics.plot_caption_attention(
            data.images[i], words + [EOS], weights,
            os.path.join(run.workdir, f"attention_test_{i}.png"), title=" ".join(words)))
    result["figures"] = paths
    for p in paths:
      run.log(f"wrote {p}")


def attention_on_objects(model: Captioner, params: Any, split: data_lib.CaptionSplit,
                         hyps: list[list[str]], vocab: Vocabulary, batch_size: int) -> dict:
  """Where the attention is when a caption names an object: for every "<colour> <shape>" of a
  caption that names an object of the image, the region of largest weight while the shape word
  is written, and whether the named object is the object nearest that region's centre.
  ``attention_on_object``: the fraction of named objects where it is (by chance about 1 / the
  number of objects); ``_first`` and ``_second``: for the first and second object a caption
  names."""
  width = max(len(h) for h in hyps) + 1
  tokens = np.zeros((len(hyps), width), np.int32)
  for i, h in enumerate(hyps):
    tokens[i, :len(h) + 1] = [BOS_ID] + list(vocab.encode(h))
  hits: dict[int, list[bool]] = {0: [], 1: []}
  for start in range(0, len(hyps), batch_size):
    rows = slice(start, start + batch_size)
    _, alphas, _ = model.apply({"params": params}, split.images[rows], tokens[rows])
    alphas = np.asarray(alphas)
    side = int(round(np.sqrt(alphas.shape[-1])))
    cell = split.images.shape[1] / side
    for i in range(start, min(start + batch_size, len(hyps))):
      words, scene, mention = hyps[i], split.scenes[i], 0
      for k in range(1, len(words)):
        if words[k - 1] not in data_lib.COLORS or words[k] not in data_lib.SHAPES:
          continue
        named = [j for j in range(len(scene))
                 if data_lib.COLORS[scene.color[j]] == words[k - 1]
                 and data_lib.SHAPES[scene.shape[j]] == words[k]]
        if named and mention < 2:
          row, col = divmod(int(np.argmax(alphas[i - start, k])), side)
          cy, cx = (row + 0.5) * cell, (col + 0.5) * cell
          nearest = int(np.argmin((scene.x - cx) ** 2 + (scene.y - cy) ** 2))
          hits[mention].append(nearest == named[0])
        mention += 1
  both = hits[0] + hits[1]
  mean = lambda xs: float(np.mean(xs)) if xs else 0.0
  return {"attention_on_object": mean(both), "attention_on_object_first": mean(hits[0]),
          "attention_on_object_second": mean(hits[1])}


def attention_weights(model: Captioner, params: Any, image: np.ndarray, words: list[str],
                      vocab: Vocabulary) -> np.ndarray:
  """``[len(words) + 1, N]``: the attention with which each word (then ``<eos>``) of a caption
  the model wrote was written (teacher forcing on it, which is exact for greedy decoding)."""
  tokens_in = np.asarray([[BOS_ID] + list(vocab.encode(words))], np.int32)
  _, alphas, _ = model.apply({"params": params}, image[None], tokens_in)
  return np.asarray(alphas[0])


def captions_figure(data: data_lib.CaptionSplit, picks: list[int], hyps: list[list[str]],
                    path: str, *, title: str = "") -> str:
  """A grid of images, each with the model's caption and its first reference."""
  plt = diagnostics._pyplot()  # pylint: disable=protected-access
  cols = min(4, len(picks))
  rows = -(-len(picks) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 4.4 * rows), squeeze=False)
  for ax in axes.ravel()[len(picks):]:
    ax.axis("off")
  wrap = lambda text: textwrap.fill(text, 48)
  for ax, i, h in zip(axes.ravel(), picks, hyps):
    ax.imshow(data.images[i], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{data.filenames[i]}\n" + wrap("model: " + " ".join(h)) + "\n"
                 + wrap("reference: " + " ".join(data.captions[i][0])), fontsize=7, loc="left")
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return diagnostics._save(fig, plt, path)  # pylint: disable=protected-access


TASK = CaptionTask()
