"""Which relational questions a trained Sort-of-CLEVR model gets wrong: its accuracy on
``closest`` and ``furthest`` questions by the *gap*, in pixels, between the distance to the
object that answers the question and the distance to the runner-up (the second closest, or the
second furthest, object from the one of the colour asked about).

    python -m experiments.vqa.margins --workdir=runs/rn_bn [--checkpoint=best] [--split=test]

A small gap means a near tie: the model has to place both objects to within a pixel or two
from the encoder's 5 x 5 feature map. Choosing the runner-up is wrong only where it has the
other shape, so each row also gives those questions alone (there, a model that cannot tell
the two apart scores 50%). A second table gives the same questions by the answer object's
own distance from the object of the colour asked about (``distance_table``), with a column
for the *clear* ones: a gap of ``--clear_gap`` pixels or more and a runner-up of the other
shape, where a model that places objects well should be right. The generator refuses exact ties (``clevr.draw_scene``), not near
ones. Images are drawn straight from the generator (``clevr.generated``), so nothing needs
preparing; the model answers all 20 questions of each image.
"""

from __future__ import annotations

import json
import math
from typing import Callable

from absl import flags, logging
import jax
import numpy as np

from experiments import common
from experiments.vqa import task as vqa
from seqjax.data import clevr
from seqjax.train import hostmem, trainer

FLAGS = flags.FLAGS
BINS = (0.0, 1.0, 2.0, 4.0, 8.0, math.inf)  # gap in pixels: [lo, hi)
# the answer object's distance in pixels, [lo, hi): centres are 2 * SIZE = 10 px apart or more
DISTANCE_BINS = (0.0, 15.0, 20.0, 30.0, 50.0, 75.0, math.inf)
SUBTYPES = {0: "closest", 1: "furthest"}  # relational subtypes whose answer is an object


def define_flags() -> None:
  """The CLI's flags, defined only when it runs."""
  flags.DEFINE_string("workdir", None, "A trained VQA workdir.")
  flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "Which checkpoint to score.")
  flags.DEFINE_enum("split", "test", sorted(clevr.SPLIT_IDS), "The split to score.")
  flags.DEFINE_integer("batch_images", 25, "Images per forward pass (20 questions each).")
  flags.DEFINE_float("clear_gap", 8.0, "The distance table's clear questions: a gap to the "
                     "runner-up of this many pixels or more (and the runner-up of the other "
                     "shape).")
  flags.DEFINE_string("json", None, "Also write the tables to this JSON file.")
  flags.mark_flags_as_required(["workdir"])


def gaps(data: clevr.Images) -> tuple[np.ndarray, np.ndarray]:
  """``(gap, other_shape)``, each ``[N, 20]``: for a ``closest``/``furthest`` question, the
  difference in pixels between the runner-up's distance and the answer object's distance (> 0:
  the generator has no exact ties), and whether the runner-up has the other shape; ``nan`` and
  ``False`` for every other question."""
  gap, other, _ = _geometry(data)
  return gap, other


def answer_distances(data: clevr.Images) -> np.ndarray:
  """``[N, 20]``: for a ``closest``/``furthest`` question, the distance in pixels between the
  centre of the object of the colour asked about and that of the object that answers it;
  ``nan`` for every other question."""
  return _geometry(data)[2]


def _geometry(data: clevr.Images) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(gap, other_shape, answer_distance)`` of ``gaps`` and ``answer_distances``."""
  gap = np.full(data.answer.shape, np.nan)
  other = np.zeros(data.answer.shape, bool)
  distance = np.full(data.answer.shape, np.nan)
  for i in range(len(data)):
    scene = data.scene(i)
    dist = np.sqrt(clevr.squared_distances(scene).astype(np.float64))
    for j, q in enumerate(data.questions(i)):
      if q.qtype != clevr.REL or q.subtype not in SUBTYPES:
        continue
      rest = [k for k in range(clevr.NUM_OBJECTS) if k != q.color]
      order = sorted(rest, key=lambda k: dist[q.color, k], reverse=q.subtype == 1)
      gap[i, j] = abs(dist[q.color, order[1]] - dist[q.color, order[0]])
      other[i, j] = scene.shape[order[1]] != scene.shape[order[0]]
      distance[i, j] = dist[q.color, order[0]]
  return gap, other, distance


def table(data: clevr.Images, predictions: np.ndarray) -> list[dict]:
  """Rows ``{subtype, lo, hi, questions, accuracy, other_shape, accuracy_other_shape}`` of
  ``predictions [N, 20]`` (answer indices) on ``data``, per subtype (closest, furthest) and gap
  bin ``[lo, hi)`` (``BINS``), then one row per subtype over every gap (``lo=0, hi=inf``).
  An empty cell's accuracy is ``nan``."""
  predictions = np.asarray(predictions)
  if predictions.shape != data.answer.shape:
    raise ValueError(f"predictions have shape {predictions.shape}; the split's questions "
                     f"{data.answer.shape}")
  gap, other = gaps(data)
  right = predictions == data.answer
  rows = []
  acc = lambda m: float(right[m].mean()) if m.any() else float("nan")
  for subtype, name in SUBTYPES.items():
    kind = (data.qtype == clevr.REL) & (data.subtype == subtype)
    bins = list(zip(BINS[:-1], BINS[1:])) + [(0.0, math.inf)]
    for lo, hi in bins:
      m = kind & (gap >= lo) & (gap < hi)
      rows.append({"subtype": name, "lo": lo, "hi": hi, "questions": int(m.sum()),
                   "accuracy": acc(m), "other_shape": int((m & other).sum()),
                   "accuracy_other_shape": acc(m & other)})
  return rows


def distance_table(data: clevr.Images, predictions: np.ndarray,
                   clear_gap: float = 8.0) -> list[dict]:
  """Rows ``{subtype, lo, hi, questions, accuracy, clear, accuracy_clear}`` of ``predictions
  [N, 20]`` on ``data``, per subtype (closest, furthest) and bin ``[lo, hi)`` of the answer
  object's distance (``DISTANCE_BINS``), then one row per subtype over every distance.
  ``clear`` counts the questions whose runner-up has the other shape and is ``clear_gap``
  pixels or more behind (``gaps``); ``accuracy_clear`` is the accuracy on those alone. An
  empty cell's accuracy is ``nan``."""
  predictions = np.asarray(predictions)
  if predictions.shape != data.answer.shape:
    raise ValueError(f"predictions have shape {predictions.shape}; the split's questions "
                     f"{data.answer.shape}")
  if not clear_gap >= 0:
    raise ValueError(f"--clear_gap must be >= 0; got {clear_gap}")
  gap, other, distance = _geometry(data)
  clear = other & (gap >= clear_gap)
  right = predictions == data.answer
  acc = lambda m: float(right[m].mean()) if m.any() else float("nan")
  rows = []
  for subtype, name in SUBTYPES.items():
    kind = (data.qtype == clevr.REL) & (data.subtype == subtype)
    for lo, hi in list(zip(DISTANCE_BINS[:-1], DISTANCE_BINS[1:])) + [(0.0, math.inf)]:
      m = kind & (distance >= lo) & (distance < hi)
      rows.append({"subtype": name, "lo": lo, "hi": hi, "questions": int(m.sum()),
                   "accuracy": acc(m), "clear": int((m & clear).sum()),
                   "accuracy_clear": acc(m & clear)})
  return rows


def format_table(rows: list[dict], clear_gap: float | None = None) -> str:
  """``table``'s rows as aligned text, percentages to one decimal; ``distance_table``'s when
  ``clear_gap`` (the gap it was made with) is given."""
  pct = lambda v: "-" if math.isnan(v) else f"{100 * v:.1f}%"
  if clear_gap is None:
    head, count, score = "gap (px)", "other_shape", "accuracy_other_shape"
    sub = "runner-up of the other shape: questions"
  else:
    head, count, score = "distance", "clear", "accuracy_clear"
    sub = f"clear (gap >= {clear_gap:g} px, other shape): questions"
  lines = [f"{'subtype':9s} {head:>10s} {'questions':>9s} {'accuracy':>8s}   "
           f"{sub:>39s} {'accuracy':>8s}"]
  for r in rows:
    span = "all" if (r["lo"], r["hi"]) == (0.0, math.inf) else (
        f"[{r['lo']:g}, {r['hi']:g})" if math.isfinite(r["hi"]) else f">= {r['lo']:g}")
    lines.append(f"{r['subtype']:9s} {span:>10s} {r['questions']:9d} {pct(r['accuracy']):>8s}"
                 f"   {r[count]:{max(39, len(sub))}d} {pct(r[score]):>8s}")
  return "\n".join(lines)


def model_answers(restored: trainer.Restored, data: clevr.Images,
                  batch_images: int = 25) -> np.ndarray:
  """``[N, 20]``: a restored model's answer to every question of ``data`` (jitted, in batches
  of ``batch_images`` images; the answers do not depend on it: no batch statistics are used
  at evaluation)."""
  if batch_images < 1:
    raise ValueError(f"--batch_images must be >= 1; got {batch_images}")
  form = restored.config.model.question
  logits_of: Callable = jax.jit(
      lambda params, batch: vqa.apply(restored.model, params, batch))
  out = []
  for start in range(0, len(data), batch_images):
    picks = range(start, min(start + batch_images, len(data)))
    batch = vqa.question_batch([data.images[i] for i in picks],
                               [data.questions(i) for i in picks], form)
    out.append(np.asarray(np.argmax(logits_of(restored.params, batch), -1)))
  return np.concatenate(out)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  hostmem.tune_malloc()  # the RN's [images, 20, 625, g] activations: heap, not fresh mmaps
  if not FLAGS.clear_gap >= 0:  # before the restore: a bad flag costs nothing
    common.fail(f"--clear_gap must be >= 0; got {FLAGS.clear_gap}")
  try:
    restored = trainer.restore(vqa.TASK, FLAGS.workdir, FLAGS.checkpoint)
    dataset = restored.config.data.name
    data = clevr.generated(dataset, FLAGS.split)
    answers = model_answers(restored, data, FLAGS.batch_images)
    rows = table(data, answers)
    by_distance = distance_table(data, answers, FLAGS.clear_gap)
  except (ValueError, OSError) as e:
    common.fail(common.one_line(e))
  print(f"{dataset} {FLAGS.split}, {FLAGS.checkpoint} checkpoint (step {restored.step}) of "
        f"{FLAGS.workdir}: closest and furthest questions by the gap to the runner-up")
  print(format_table(rows))
  print("\nthe same questions by the answer object's distance from the object asked about")
  print(format_table(by_distance, FLAGS.clear_gap))
  # strict JSON: an unbounded bin's hi and an empty cell's accuracy are null, not Infinity/NaN
  finite = lambda rs: [{k: None if isinstance(v, float) and not math.isfinite(v) else v
                        for k, v in r.items()} for r in rs]
  if FLAGS.json:
    try:
      with open(FLAGS.json, "w", encoding="utf-8") as f:
        json.dump({"workdir": FLAGS.workdir, "checkpoint": FLAGS.checkpoint,
                   "step": restored.step, "dataset": dataset, "split": FLAGS.split,
                   "rows": finite(rows), "clear_gap": FLAGS.clear_gap,
                   "by_distance": finite(by_distance)}, f, indent=1, allow_nan=False)
    except OSError as e:
      common.fail(f"--json={FLAGS.json}: {e.strerror or e}")
    print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
  define_flags()
  common.run(main)
