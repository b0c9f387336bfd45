"""Visual question answering on Sort-of-CLEVR (Santoro et al. 2017) on the one trainer: the
Relation Network, the CNN+MLP baseline and the Stacked Attention Network, each with the paper's
11-bit questions or English questions through an LSTM (``seqjax.nn.vqa``).

Every question of an image is one example (9,800 x 20 = 196,000 training questions per epoch).
The checkpoint is picked by validation accuracy. Evaluation reports the accuracy over all
questions, over the relational and the non-relational ones, and per subtype
(``seqjax.data.clevr.SUBTYPE_NAMES``). ``report`` writes ``predictions.png`` (test images with
questions, answers and the model's predictions) and, for the SAN, ``attention.png`` (both
attention layers over the image).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from experiments.vqa.configs import base
from seqjax import diagnostics
from seqjax.data import clevr, registry
from seqjax.data.epochs import EpochBatches
from seqjax.nn.vqa import VQAModel
from seqjax.train.losses import example_nll
from seqjax.train.state import variables
from seqjax.train.task import Data, InputError, Task

KINDS = len(clevr.SUBTYPE_NAMES)


def metric_name(kind: int) -> str:
  """``acc_<subtype>`` of ``SUBTYPE_NAMES[kind]`` (``acc_closest``, ``acc_shape``, ...)."""
  return "acc_" + clevr.SUBTYPE_NAMES[kind].split("/")[1]


class QuestionBatches(EpochBatches):
  """Batches of ``batch_size`` images, each with ``per_image`` of its questions: the image is
  encoded once for all of them. An epoch visits every question once: each image's questions are
  shuffled and cut into groups of ``per_image`` (a row each), and the rows are shuffled, both
  with seed ``(seed, epoch)`` (in order without ``shuffle``). Every batch has ``batch_size``
  rows; the last one of an epoch is filled with rows of ``weights`` 0.

  Rows: ``images [B, 75, 75, 3]``, ``question [B, q, ...]`` (``length [B, q]`` for text),
  ``answer``/``kind [B, q]``, ``weights [B]``."""

  def __init__(self, arrays: dict, images: np.ndarray, batch_size: int, per_image: int, *,
               shuffle: bool, seed: int = 0):
    n, q = arrays["answer"].shape
    if per_image < 1 or q % per_image:
      raise ValueError(f"questions per image must divide the {q} questions of an image; got "
                       f"{per_image}")
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    self.arrays, self.images = arrays, images
    self.size, self.per_image, self.groups = n, per_image, q // per_image
    self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

  def num_batches(self, epoch: int) -> int:
    return -(-self.size * self.groups // self.batch_size)

  def layout(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(image of each row [R], question slots of each row [R, per_image])`` (the last epoch's
    is kept: every batch of an epoch reads it)."""
    cached = getattr(self, "_layout", None)
    if cached is not None and cached[0] == epoch:
      return cached[1]
    self._layout = (epoch, self._make_layout(epoch))
    return self._layout[1]

  def _make_layout(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    n, g, q = self.size, self.groups, self.per_image
    rows = np.arange(n * g)
    slots = np.broadcast_to(np.arange(g * q), (n, g * q))
    if self.shuffle:
      rng = np.random.default_rng([self.seed, epoch])
      slots = np.argsort(rng.random((n, g * q)), axis=1)
      rows = rng.permutation(n * g)
    image = rows // g
    return image, slots.reshape(n, g, q)[image, rows % g]

  def batch(self, epoch: int, k: int) -> dict:
    image, slots = self.layout(epoch)
    take = slice(k * self.batch_size, (k + 1) * self.batch_size)
    image, slots = image[take], slots[take]
    fill = self.batch_size - len(image)
    weights = np.concatenate([np.ones(len(image), np.float32), np.zeros(fill, np.float32)])
    image = np.concatenate([image, np.zeros(fill, image.dtype)])
    slots = np.concatenate([slots, np.zeros((fill, self.per_image), slots.dtype)])
    out = {k_: v[image[:, None], slots] for k_, v in self.arrays.items()}
    return {**out, "images": self.images[image], "weights": weights}


def model_variables(params: Any) -> dict:
  """The Flax variables of ``params``: the parameters alone, or already the variables of a
  model with state (``{"params": ..., "batch_stats": ...}``, ``seqjax.train.state.variables``;
  the model's own parameter tree has no ``"params"`` entry)."""
  return params if "params" in params else {"params": params}


def apply(model, params, batch: dict, *, key: Optional[jax.Array] = None,
          return_attention: bool = False):
  """The model on one batch (dropout when ``key`` is given); batch normalisation, if any, with
  its running statistics (training with it is ``train_apply``)."""
  if key is not None and "params" in params:
    raise ValueError("apply: a model with state trains through train_apply")
  rngs = {"dropout": key} if key is not None else None
  return model.apply(model_variables(params), batch["images"], batch["question"],
                     batch.get("length"), deterministic=key is None, rngs=rngs,
                     return_attention=return_attention)


def train_apply(model, params, model_state: Optional[dict], batch: dict, key: jax.Array):
  """``(logits, new model state)`` of one training batch: dropout on; with batch
  normalisation, the batch's statistics (of its real images: filler rows of weight 0 are left
  out) and the running statistics updated."""
  rngs = {"dropout": key}
  if model_state is None:
    return model.apply({"params": params}, batch["images"], batch["question"],
                       batch.get("length"), deterministic=False, rngs=rngs), None
  logits, updates = model.apply(
      {"params": params, **model_state}, batch["images"], batch["question"],
      batch.get("length"), deterministic=False, rngs=rngs, image_mask=batch["weights"] > 0,
      mutable=list(model_state))
  return logits, dict(updates)


class VQATask(Task):
  name = "vqa"
  base_config = base
  rnn_sections = ("model.rnn",)
  best = ("accuracy", "max")
  resume_free = ("report.",)

  def validate(self, config):
    if config.model.question == "text" and config.model.rnn.bidirectional:
      raise ValueError("model.rnn.bidirectional must be False: the question vector is the "
                       "RNN's output at the last word")

  def prepare(self, config):
    try:
      return registry.prepare(config.data.name, kind=registry.VQA,
                              data_dir=config.data.data_dir or None)
    except (FileNotFoundError, ValueError) as e:
      raise InputError(str(e)) from None

  def data(self, config, meta):
    builder = self.prepare(config)
    splits = {}
    for split in ("train", "validation", "test"):
      try:
        splits[split] = clevr.load(builder, split)
      except ValueError as e:
        raise InputError(str(e)) from None
    d, t, form = config.data, config.train, config.model.question
    if d.train_images:
      if d.train_images > len(splits["train"]):
        raise InputError(f"data.train_images={d.train_images}: {d.name} has "
                         f"{len(splits['train'])} training images")
      splits["train"] = clevr.Images(**{k: v[:d.train_images]
                                        for k, v in vars(splits["train"]).items()})
    rows = {s: clevr.question_arrays(x, form) for s, x in splits.items()}
    train = QuestionBatches(rows["train"], splits["train"].images, t.batch_size,
                            t.questions_per_image, shuffle=True, seed=config.seed)
    evals = {s: QuestionBatches(rows[s], splits[s].images, t.eval_batch_size,
                                rows[s]["answer"].shape[1], shuffle=False)
             for s in ("validation", "test")}
    counts = {s: len(x) for s, x in splits.items()}
    summary = (f"{d.name}: {counts['train']} training, {counts['validation']} validation, "
               f"{counts['test']} test images, {2 * clevr.QUESTIONS_PER_TYPE} questions each "
               f"({form} form); {rows['train']['answer'].size} training questions, "
               f"{t.questions_per_image} per image in a batch of {t.batch_size} images")
    if meta is not None:  # a resumed run: its ids must mean what they meant
      self.check_meta(meta)
    return Data(train=train, evals=evals, meta=self.meta(config), steps_per_epoch=len(train),
                example={**train.batch(0, 0), "epoch": 0}, summary=summary,
                extra={"splits": splits, "rows": rows})

  @staticmethod
  def meta(config) -> dict:
    return {"dataset": config.data.name, "answers": list(clevr.ANSWERS),
            "form": config.model.question, "vocab": list(clevr.VOCAB),
            "question_length": clevr.MAX_QUESTION_LENGTH}

  def check_meta(self, meta: dict) -> None:
    """A checkpoint's answers and vocabulary must be today's (ids would change meaning)."""
    if meta.get("answers") != list(clevr.ANSWERS) or meta.get("vocab") != list(clevr.VOCAB):
      raise InputError("the checkpoint was trained with other answer or word ids than this "
                       "seqjax's Sort-of-CLEVR; retrain it")

  def model(self, config, meta, data=None):
    if meta is not None:
      self.check_meta(meta)
    m = config.model
    return VQAModel(kind=m.kind, question=m.question, num_answers=len(clevr.ANSWERS),
                    channels=tuple(m.channels), norm=m.norm, invert=m.invert,
                    g_sizes=tuple(m.g_sizes),
                    pair_reduce=m.pair_reduce,
                    mlp_size=m.mlp_size, san_size=m.san_size, san_layers=m.san_layers,
                    f_sizes=tuple(m.f_sizes), dropout_rate=m.dropout_rate,
                    vocab_size=len(clevr.VOCAB), embed_size=m.embed_size,
                    rnn=self.rnn(config))

  @staticmethod
  def dummy_batch(config, rows: int = 2) -> dict:
    size = clevr.IMAGE_SIZE
    batch = {"images": np.zeros((rows, size, size, 3), np.uint8)}
    if config.model.question == "vector":
      batch["question"] = np.zeros((rows, 1, clevr.VECTOR_SIZE), np.float32)
    else:
      batch["question"] = np.zeros((rows, 1, clevr.MAX_QUESTION_LENGTH), np.int32)
      batch["length"] = np.ones((rows, 1), np.int32)
    return batch

  def init_params(self, model, key, config, meta):
    b = self.dummy_batch(config)
    return model.init(key, b["images"], b["question"], b.get("length"))["params"]

  def init_model_state(self, model, key, config, meta):
    """Batch normalisation's running statistics (``model.norm="batch"``), else ``None``."""
    if config.model.norm != "batch":
      return None
    b = self.dummy_batch(config)
    variables = model.init(key, b["images"], b["question"], b.get("length"))
    return {"batch_stats": variables["batch_stats"]}

  def describe(self, config, model):
    m = config.model
    name = {"rn": "Relation Network", "cnn_mlp": "CNN+MLP", "san": "stacked attention"}[m.kind]
    q = "11-bit questions" if m.question == "vector" else (
        f"text questions through a {m.rnn.cell} {m.rnn.num_layers}x{m.rnn.hidden_size}")
    return f"{name} ({q})"

  def loss(self, model, params, batch, *, key, carry, config, model_state=None):
    logits, new_state = train_apply(model, params, model_state, batch, key)  # [B, q, A]
    w = jnp.broadcast_to(batch["weights"][:, None], batch["answer"].shape)
    count = jnp.maximum(jnp.sum(w), 1.0)
    loss = jnp.sum(example_nll(logits, batch["answer"]) * w) / count
    correct = jnp.sum((jnp.argmax(logits, -1) == batch["answer"]) * w)
    metrics = {"loss": loss, "accuracy": correct / count}
    if model_state is None:
      return loss, metrics, None
    return loss, metrics, None, new_state

  def eval_step(self, model, params, batch, carry, config):
    logits = apply(model, params, batch)
    w = jnp.broadcast_to(batch["weights"][:, None], batch["answer"].shape).reshape(-1)
    logits, answer = logits.reshape(-1, logits.shape[-1]), batch["answer"].reshape(-1)
    right = (jnp.argmax(logits, -1) == answer).astype(jnp.float32) * w
    kinds = jax.nn.one_hot(batch["kind"].reshape(-1), KINDS, dtype=jnp.float32)  # [B q, 6]
    return {"nll": jnp.sum(example_nll(logits, answer) * w),
            "count": kinds.T @ w, "correct": kinds.T @ right}, carry

  def finalize(self, sums, split, config):
    count, correct = np.asarray(sums["count"]), np.asarray(sums["correct"])
    if count.sum() == 0:
      raise ValueError(f"evaluate: split {split!r} has no questions")
    out = {"loss": float(sums["nll"]) / float(count.sum()),
           "accuracy": float(correct.sum() / count.sum()),
           "non_relational": float(correct[:3].sum() / max(count[:3].sum(), 1)),
           "relational": float(correct[3:].sum() / max(count[3:].sum(), 1))}
    for k in range(KINDS):
      out[metric_name(k)] = float(correct[k] / count[k]) if count[k] else float("nan")
    out["questions"] = float(count.sum())
    return out

  def format_scores(self, run, split, scores, step):
    subtypes = " ".join(f"{clevr.SUBTYPE_NAMES[k]} {scores[metric_name(k)]:.4f}"
                        for k in range(KINDS))
    return (f"{split} (best checkpoint, step {step}): accuracy {scores['accuracy']:.4f} "
            f"(relational {scores['relational']:.4f}, non-relational "
            f"{scores['non_relational']:.4f}; {int(scores['questions'])} questions) loss "
            f"{scores['loss']:.4f}\n  {subtypes}")

  # ---- the end of a run ----------------------------------------------------------------------
  def report(self, run, state, result):
    n = run.config.report.images
    if not (run.config.report.plot and run.workdir and n and jax.process_index() == 0):
      return
    images = run.data.extra["splits"]["test"]
    picks = list(range(min(n, len(images))))
    preds, maps = predict_images(run.model, variables(state), images, picks,
                                 run.config.model.question)
    path = os.path.join(run.workdir, "predictions.png")
    clevr.grid_figure(images, picks, path, predictions=preds,
                      title=f"{self.describe(run.config, run.model)}: test images")
    result["predictions_png"] = path
    run.log(f"wrote {path}")
    if maps is not None:
      path = os.path.join(run.workdir, "attention.png")
      attention_figure(images, picks[:4], maps, path)
      result["attention_png"] = path
      run.log(f"wrote {path}")


def question_batch(images: list, questions: list, form: str) -> dict:
  """A batch of images ``[75, 75, 3]``, each with a list of questions (``clevr.Question`` or
  English text; ``ValueError`` naming a question the vector form cannot encode), in ``form``;
  unknown words in the text form become ``<unk>``."""
  per = {len(qs) for qs in questions}
  if len(per) != 1:
    raise ValueError("question_batch: every image needs as many questions")
  batch: dict[str, Any] = {"images": np.stack(images).astype(np.uint8)}
  if form == "vector":
    batch["question"] = np.stack([np.stack([clevr.question_vector(
        clevr.parse_question(q) if isinstance(q, str) else q) for q in qs]) for qs in questions])
  else:
    encoded = [[clevr.encode(q if isinstance(q, str) else clevr.question_text(q)) for q in qs]
               for qs in questions]
    batch["question"] = np.stack([np.stack([e[0] for e in es]) for es in encoded])
    batch["length"] = np.asarray([[e[1] for e in es] for es in encoded], np.int32)
  return batch


def predict_images(model, params, data: clevr.Images, picks: list[int], form: str
                   ) -> tuple[dict, Optional[dict]]:
  """Predictions ``{(image, question): answer}`` for every question of images ``picks``, and
  the SAN's attention maps ``{(image, question): [K, N]}`` (``None`` for other models)."""
  batch = question_batch([data.images[i] for i in picks], [data.questions(i) for i in picks],
                         form)
  logits, attention = apply(model, params, batch, return_attention=True)
  answers = np.asarray(jnp.argmax(logits, -1))
  preds = {(i, j): int(answers[r, j]) for r, i in enumerate(picks)
           for j in range(answers.shape[1])}
  maps = None if attention is None else {
      (i, j): np.asarray(attention[r, j]) for r, i in enumerate(picks)
      for j in range(answers.shape[1])}
  return preds, maps


def overlay(ax, image: np.ndarray, weights: np.ndarray, title: str) -> None:
  """``image`` with attention ``weights`` (one per cell of the square feature map) drawn over
  it (``seqjax.diagnostics.overlay_attention``)."""
  diagnostics.overlay_attention(ax, image, weights, title)


def attention_figure(data: clevr.Images, picks: list[int], maps: dict, path: str,
                     questions_per_image: int = 2) -> None:
  """For each image, a non-relational and a relational question: the image, then each SAN
  attention layer's weights over it."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = [(i, j) for i in picks for j in (0, clevr.QUESTIONS_PER_TYPE)[:questions_per_image]]
  layers = next(iter(maps.values())).shape[0]
  fig, axes = plt.subplots(len(rows), layers + 1, figsize=(2.6 * (layers + 1), 2.7 * len(rows)),
                           squeeze=False)
  for r, (i, j) in enumerate(rows):
    q = data.questions(i)[j]
    axes[r, 0].imshow(data.images[i], interpolation="nearest")
    axes[r, 0].axis("off")
    axes[r, 0].set_title(f"{clevr.question_text(q)}\nanswer: {clevr.ANSWERS[data.answer[i, j]]}",
                         fontsize=6)
    for k in range(layers):
      overlay(axes[r, k + 1], data.images[i], maps[(i, j)][k], f"attention layer {k + 1}")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


TASK = VQATask()
