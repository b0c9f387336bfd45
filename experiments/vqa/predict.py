"""Answers questions about an image with a trained Sort-of-CLEVR model (the best checkpoint of a
workdir).

    python -m experiments.vqa.predict --workdir=/tmp/rn --image=scene.png \\
        "what is the shape of the object closest to the red object ?" \\
        "is the blue object on the left or on the right ?"

The image must be a 75x75 RGB PNG (``experiments.vqa.view --save_image`` writes one from the
generated data). Prints one line per question: the answer, its probability, the next best
answers and the question. A model trained on 11-bit questions accepts the phrasings the
generator uses (any colour; ``seqjax.data.clevr.TEMPLATES``); a model trained on English
questions reads any words, and names the ones it never saw. ``--attention_png`` (stacked
attention models) draws both attention layers of each question over the image.
"""

from __future__ import annotations

import sys
from typing import Optional

from absl import flags, logging
import jax
import numpy as np

from experiments import common
from experiments.vqa import task as vqa
from seqjax.data import clevr
from seqjax.train import trainer

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A trained VQA workdir.")
flags.DEFINE_string("image", None, "A 75x75 RGB PNG image.")
flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "Which checkpoint to use.")
flags.DEFINE_integer("top", 3, "Answers shown per question.")
flags.DEFINE_string("attention_png", None, "Stacked attention models: write the attention "
                    "maps of every question over the image to this PNG.")
flags.mark_flags_as_required(["workdir", "image"])


def read_image(path: str) -> np.ndarray:
  """The ``[75, 75, 3]`` uint8 pixels of a PNG (an alpha channel is dropped); ``ValueError``
  naming the file when it cannot be read or has another size."""
  import matplotlib.image  # pylint: disable=g-import-not-at-top
  try:
    pixels = matplotlib.image.imread(path)
  except (OSError, SyntaxError, ValueError) as e:
    raise ValueError(f"--image={path}: not a readable PNG ({common.one_line(e)})") from None
  if pixels.dtype != np.uint8:  # PNGs read as floats in [0, 1]
    pixels = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
  if pixels.ndim == 2:
    pixels = np.repeat(pixels[..., None], 3, axis=-1)
  size = clevr.IMAGE_SIZE
  if pixels.shape[:2] != (size, size) or pixels.shape[-1] not in (3, 4):
    raise ValueError(f"--image={path}: the models read {size}x{size} RGB images; this one is "
                     f"{pixels.shape[1]}x{pixels.shape[0]} with {pixels.shape[-1]} channels")
  return pixels[..., :3]


class Predictor:
  """A restored model; ``answer(image, questions)``."""

  def __init__(self, workdir: str, which: str = "best"):
    run = trainer.restore(vqa.TASK, workdir, which)
    self.config, self.model, self.params = run.config, run.model, run.params
    self.form = run.config.model.question

  def answer(self, image: np.ndarray, questions: list[str]
             ) -> tuple[np.ndarray, Optional[np.ndarray], list[str]]:
    """``(answer probabilities [n, 12], attention [n, K, N] or None, unknown words)``; a
    question the vector form cannot encode is a ``ValueError`` naming it."""
    unknown: list[str] = []
    if self.form == "text":
      for q in questions:
        unknown += [w for w in clevr.encode(q)[2] if w not in unknown]
    batch = vqa.question_batch([image], [questions], self.form)
    logits, attention = vqa.apply(self.model, self.params, batch, return_attention=True)
    probs = np.asarray(jax.nn.softmax(logits[0], axis=-1))
    return probs, None if attention is None else np.asarray(attention[0]), unknown


def attention_png(image: np.ndarray, questions: list[str], maps: np.ndarray, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  layers = maps.shape[1]
  fig, axes = plt.subplots(len(questions), layers + 1,
                           figsize=(2.6 * (layers + 1), 2.7 * len(questions)), squeeze=False)
  for r, q in enumerate(questions):
    axes[r, 0].imshow(image, interpolation="nearest")
    axes[r, 0].set_title(q, fontsize=6, wrap=True)
    axes[r, 0].axis("off")
    for k in range(layers):
      vqa.overlay(axes[r, k + 1], image, maps[r, k], f"attention layer {k + 1}")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  logging.set_verbosity(logging.WARNING)
  questions = [q for q in argv[1:] if q.strip()]
  if FLAGS.top < 1:
    common.fail(f"--top must be >= 1; got {FLAGS.top}")
  if not questions:
    common.fail("no questions: give them as arguments")
  try:
    image = read_image(FLAGS.image)
    predictor = Predictor(FLAGS.workdir, FLAGS.checkpoint)
    for n, q in enumerate(questions, start=1):
      try:
        clevr.encode(q)
        if predictor.form == "vector":
          clevr.parse_question(q)
      except ValueError as e:
        raise ValueError(f"question {n}: {e}") from None
    probs, maps, unknown = predictor.answer(image, questions)
  except (ValueError, OSError) as e:
    common.fail(common.one_line(e))
  if unknown:
    sys.stderr.write(f"words the model never saw (read as <unk>): {' '.join(unknown)}\n")
  for q, p in zip(questions, probs):
    order = np.argsort(-p)[:FLAGS.top]
    best = ", ".join(f"{clevr.ANSWERS[k]} {p[k]:.3f}" for k in order[1:])
    print(f"{clevr.ANSWERS[order[0]]}\t{p[order[0]]:.3f}\t({best})\t{q}")
  if FLAGS.attention_png:
    if maps is None:
      common.fail(f"--attention_png: the model in {FLAGS.workdir} is a "
                  f"{predictor.config.model.kind!r} model, which has no attention maps")
    attention_png(image, questions, maps, FLAGS.attention_png)
    print(f"wrote {FLAGS.attention_png}")


if __name__ == "__main__":
  common.run(main)
