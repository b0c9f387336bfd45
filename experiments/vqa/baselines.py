"""Answerers that need no training, scored per subtype like the models: what a Sort-of-CLEVR
accuracy must beat to show that a model reads the question.

    python -m experiments.vqa.baselines --split=test

- ``majority``: the most frequent answer of each subtype among the training questions.
- ``colour_blind``: an oracle that knows every object of the image exactly (shape and position)
  but not which one has the colour asked about. For each image and subtype it gives the answer
  most of the six colours would get (ties go to the first answer in ``clevr.ANSWERS``), so it
  is the best any answerer can do without binding the question's colour to an object. A model
  scoring near it has learnt the image's statistics (how many squares, which half holds more
  objects), not the question.
- ``pixels``: answers read from the image's pixels alone, as a model receives them: each object
  found by its colour, its centre the middle of its pixels' bounding box, a square when at least
  three corners of that box have its colour. It checks the images and answers a model trains on
  (``tests/experiments/test_vqa.py`` runs it on the trainer's own batches): near 100%, short of
  it only where an object hides part of another (centres 10 pixels apart may overlap).

Images are drawn straight from the generator (as ``experiments.vqa.view`` does), so nothing
needs preparing.
"""

from __future__ import annotations

import json

from absl import flags
import numpy as np

from experiments import common
from experiments.vqa.task import metric_name
from seqjax.data import clevr

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The CLI's flags, defined only when it runs (importing the functions below defines none, so
  they can be used beside other absl programs' flags)."""
  flags.DEFINE_enum("dataset", "sort_of_clevr", sorted(clevr.CONFIGS), "Which generated set.")
  flags.DEFINE_enum("split", "test", sorted(clevr.SPLIT_IDS), "The split to score.")
  flags.DEFINE_string("json", None, "Also write the scores to this JSON file.")

NUM_SUBTYPES = len(clevr.SUBTYPE_NAMES)


def all_answers(scene: clevr.Scene) -> np.ndarray:
  """``[6 colours, 6 subtypes]``: the answer to every question one can ask about ``scene``."""
  return np.array([[clevr.answer(scene, clevr.Question(c, t, s, 0))
                    for t in (clevr.NONREL, clevr.REL) for s in range(3)]
                   for c in range(clevr.NUM_OBJECTS)], np.int64)


def colour_blind_answers(scene: clevr.Scene) -> np.ndarray:
  """``[6 subtypes]``: per subtype, the answer that most colours would get in ``scene``."""
  table = all_answers(scene)
  return np.array([np.bincount(table[:, k], minlength=len(clevr.ANSWERS)).argmax()
                   for k in range(NUM_SUBTYPES)], np.int64)


def majority_answers(data: clevr.Images) -> np.ndarray:
  """``[6 subtypes]``: the most frequent answer of each subtype among ``data``'s questions."""
  st = 3 * data.qtype + data.subtype  # Question.kind, over arrays
  return np.array([np.bincount(data.answer[st == k], minlength=len(clevr.ANSWERS)).argmax()
                   for k in range(NUM_SUBTYPES)], np.int64)


def pixel_objects(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``(centres [6, 2] as (x, y), shapes [6])`` of the objects in ``image`` (``[75, 75, 3]``
  uint8, white background), found by their colours (``clevr.RGB``): a centre is the middle of
  the bounding box of the colour's pixels, a shape is square (0) when at least three of that
  box's corners have the colour. A colour with no pixel is a ``ValueError``."""
  centres, shapes = np.zeros((clevr.NUM_OBJECTS, 2)), np.zeros(clevr.NUM_OBJECTS, np.int64)
  for k in range(clevr.NUM_OBJECTS):
    mask = np.all(image == clevr.RGB[k], axis=-1)
    ys, xs = np.nonzero(mask)
    if not len(xs):
      raise ValueError(f"no {clevr.COLORS[k]} pixel in the image")
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    centres[k] = (x0 + x1) / 2, (y0 + y1) / 2
    shapes[k] = 0 if mask[[y0, y0, y1, y1], [x0, x1, x0, x1]].sum() >= 3 else 1
  return centres, shapes


def pixel_answer(objects: tuple[np.ndarray, np.ndarray], q: clevr.Question) -> int:
  """The answer to ``q`` (index in ``clevr.ANSWERS``) from ``pixel_objects``: the generator's
  own rules (``clevr.answer``) on the objects read off the pixels, centres rounded to pixels
  (exact for every object nothing hides)."""
  centres, shapes = objects
  xy = np.rint(centres).astype(np.int64)
  return clevr.answer(clevr.Scene(shape=shapes, x=xy[:, 0], y=xy[:, 1]), q)


def score_questions(data: clevr.Images, answer_of) -> dict:
  """Accuracy overall, non-relational, relational and per subtype (``acc_<subtype>``, as the
  trainer names them) of ``answer_of(i, questions of image i) -> [20 answers]`` over every
  question of ``data``."""
  right = np.zeros(NUM_SUBTYPES)
  total = np.zeros(NUM_SUBTYPES)
  for i in range(len(data)):
    qs = data.questions(i)
    guess = answer_of(i, qs)
    for j, q in enumerate(qs):
      k = q.kind
      total[k] += 1
      right[k] += guess[j] == data.answer[i, j]
  out = {"accuracy": right.sum() / total.sum(),
         "non_relational": right[:3].sum() / total[:3].sum(),
         "relational": right[3:].sum() / total[3:].sum()}
  for k in range(NUM_SUBTYPES):
    out[metric_name(k)] = right[k] / total[k] if total[k] else float("nan")
  return {k: float(v) for k, v in out.items()}


def score(data: clevr.Images, answers_of) -> dict:
  """``score_questions`` of an answerer that gives one answer per subtype,
  ``answers_of(i) -> [6 subtypes]`` (it does not read the question's colour)."""
  def answer_of(i, qs):
    guess = answers_of(i)
    return [guess[q.kind] for q in qs]
  return score_questions(data, answer_of)


def pixel_scores(data: clevr.Images) -> dict:
  """The pixel answerer's scores on ``data``."""
  def answer_of(i, qs):
    objects = pixel_objects(data.images[i])
    return [pixel_answer(objects, q) for q in qs]
  return score_questions(data, answer_of)


def colour_blind_scores(dataset: str, split: str) -> dict:
  """The colour-blind oracle's scores on ``split`` of ``dataset`` (the split alone is drawn)."""
  data = clevr.generated(dataset, split)
  return score(data, lambda i: colour_blind_answers(data.scene(i)))


def baselines(dataset: str, split: str) -> dict:
  """``{"majority": scores, "colour_blind": scores, "pixels": scores}`` on ``split`` of
  ``dataset``."""
  train = clevr.generated(dataset, "train")
  data = train if split == "train" else clevr.generated(dataset, split)
  majority = majority_answers(train)
  return {"majority": score(data, lambda i: majority),
          "colour_blind": score(data, lambda i: colour_blind_answers(data.scene(i))),
          "pixels": pixel_scores(data)}


def main(argv):
  del argv
  try:
    result = baselines(FLAGS.dataset, FLAGS.split)
    names = ["accuracy", "non_relational", "relational"] + [
        metric_name(k) for k in range(NUM_SUBTYPES)]
    print(f"{FLAGS.dataset} {FLAGS.split}: " + " ".join(names))
    for which, s in result.items():
      print(f"{which:13s}" + " ".join(f"{100 * s[n]:.1f}" for n in names))
    if FLAGS.json:
      with open(FLAGS.json, "w") as f:
        json.dump({"dataset": FLAGS.dataset, "split": FLAGS.split, **result}, f, indent=1)
      print(f"wrote {FLAGS.json}")
  except (ValueError, OSError) as e:
    common.fail(common.one_line(e))


if __name__ == "__main__":
  define_flags()
  common.run(main)
