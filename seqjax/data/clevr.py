"""Sort-of-CLEVR (Santoro et al. 2017, supplementary material): generated images of coloured
shapes with relational and non-relational questions, prepared once as ArrayRecord through a
TFDS builder (no download: the data is a pure function of the seed).

Each image is 75x75 RGB on a white background and holds 6 objects, one of each colour in
``COLORS``, each a square (11x11 pixels) or a disc (the pixels within 5.5 of the centre), at integer centres at least
``2 * SIZE`` pixels apart. Every image comes with 20 questions, 10 non-relational and 10
relational, each about one colour:

- non-relational: the shape of the object of that colour (``shape``), whether it is on the left
  or right half (``horizontal``), whether it is in the top or bottom half (``vertical``);
- relational: the shape of the object closest to it (``closest``), of the object furthest from it
  (``furthest``), how many objects have its shape, itself included (``count``).

A layout where a closest or furthest object is tied is drawn again, so every answer is unique.
Answers are one of ``ANSWERS`` (12). A question exists in two forms:

- the paper's 11-bit vector (``question_vector``): the colour one-hot (6), the question type
  one-hot (non-relational, relational) and the subtype one-hot (3);
- English (``question_text``): one of a few phrasings per subtype, chosen at random, tokenized by
  spaces (``tokenize``) over a fixed vocabulary (``VOCAB``); ``parse_question`` maps any of the
  phrasings back to ``(colour, type, subtype)``.

Splits (builder config ``sort_of_clevr``): 9,800 training images as the paper, 200 validation
images (they pick the checkpoint), and 1,000 test images (the paper tests on 200; 20,000 test
questions give accuracies to about +-0.3%). ``sort_of_clevr_49k`` has 49,000 training images
and the same validation and test images (not in the paper: whether more images help a model
that overfits). ``sort_of_clevr_tiny`` (64 / 16 / 16) is for tests.
Image ``i`` of split ``s`` is drawn from ``np.random.default_rng([seed, split id, i])``.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Optional, Sequence

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import registry

IMAGE_SIZE = 75
SIZE = 5  # half the side of a square, the radius of a circle
NUM_OBJECTS = 6
QUESTIONS_PER_TYPE = 10  # per image: this many non-relational and this many relational

COLORS = ("red", "green", "blue", "orange", "gray", "yellow")
RGB = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 156, 0), (128, 128, 128),
                (255, 255, 0)], np.uint8)
SHAPES = ("square", "circle")
NONREL, REL = 0, 1
TYPES = ("non-relational", "relational")
SUBTYPES = (("shape", "horizontal", "vertical"), ("closest", "furthest", "count"))
SUBTYPE_NAMES = tuple(f"{t}/{s}" for t, subs in zip(("nonrel", "rel"), SUBTYPES) for s in subs)
ANSWERS = ("square", "circle", "left", "right", "top", "bottom", "1", "2", "3", "4", "5", "6")
VECTOR_SIZE = len(COLORS) + 2 + 3  # 11

# English phrasings of each (type, subtype); "{c}" is the colour.
TEMPLATES = {
    (NONREL, 0): ("what is the shape of the {c} object ?", "what shape is the {c} object ?"),
    (NONREL, 1): ("is the {c} object on the left or on the right ?",
                  "on which side is the {c} object , left or right ?"),
    (NONREL, 2): ("is the {c} object at the top or at the bottom ?",
                  "is the {c} object in the top half or in the bottom half ?"),
    (REL, 0): ("what is the shape of the object closest to the {c} object ?",
               "what shape is the object nearest to the {c} one ?"),
    (REL, 1): ("what is the shape of the object furthest from the {c} object ?",
               "what shape is the object farthest from the {c} one ?"),
    (REL, 2): ("how many objects have the same shape as the {c} object ?",
               "how many objects share the shape of the {c} one ?"),
}
NUM_TEMPLATES = 2
PAD, UNK = "<pad>", "<unk>"
VOCAB = (PAD, UNK) + tuple(sorted({w for phrasings in TEMPLATES.values() for t in phrasings
                                   for w in t.split() if w != "{c}"} | set(COLORS)))
MAX_QUESTION_LENGTH = max(len(t.split()) for p in TEMPLATES.values() for t in p)


@dataclasses.dataclass(frozen=True)
class Scene:
  """One image's objects: ``color[k] == k`` (one object per colour), ``shape`` (0 square, 1
  circle), centre ``x`` (column) and ``y`` (row, 0 at the top), in pixels."""
  shape: np.ndarray
  x: np.ndarray
  y: np.ndarray


@dataclasses.dataclass(frozen=True)
class Question:
  color: int
  qtype: int  # NONREL or REL
  subtype: int  # 0..2, see SUBTYPES
  template: int = 0

  @property
  def kind(self) -> int:
    """The index of ``(qtype, subtype)`` in ``SUBTYPE_NAMES``."""
    return 3 * self.qtype + self.subtype


def squared_distances(scene: Scene) -> np.ndarray:
  """``[6, 6]`` int64: the squared distance in pixels between every two objects' centres."""
  dx = scene.x[:, None].astype(np.int64) - scene.x[None, :]
  dy = scene.y[:, None].astype(np.int64) - scene.y[None, :]
  return dx * dx + dy * dy


def _ties(scene: Scene) -> bool:
  """Whether some object's closest or furthest other object is not unique."""
  d = squared_distances(scene)
  for k in range(NUM_OBJECTS):
    others = np.delete(d[k], k)
    if np.sum(others == others.min()) > 1 or np.sum(others == others.max()) > 1:
      return True
  return False


def draw_scene(rng: np.random.Generator) -> Scene:
  """Six objects at centres ``2 * SIZE`` apart or more, inside the image, with unique closest
  and furthest objects."""
  while True:
    centres: list[tuple[int, int]] = []
    while len(centres) < NUM_OBJECTS:
      c = rng.integers(SIZE, IMAGE_SIZE - SIZE, size=2)
      if all((c[0] - a) ** 2 + (c[1] - b) ** 2 >= (2 * SIZE) ** 2 for a, b in centres):
        centres.append((int(c[0]), int(c[1])))
    xy = np.asarray(centres, np.int64)
    scene = Scene(shape=rng.integers(0, 2, size=NUM_OBJECTS).astype(np.int64), x=xy[:, 0],
                  y=xy[:, 1])
    if not _ties(scene):
      return scene


def render(scene: Scene) -> np.ndarray:
  """The ``[75, 75, 3]`` uint8 image of ``scene``: white background, a filled square
  ``|dx|, |dy| <= SIZE`` or disc ``dx^2 + dy^2 < (SIZE + 0.5)^2`` per object (both 11 pixels
  across)."""
  image = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 255, np.uint8)
  rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
  for k in range(NUM_OBJECTS):
    dy, dx = rows - scene.y[k], cols - scene.x[k]
    if scene.shape[k] == 0:
      inside = (np.abs(dx) <= SIZE) & (np.abs(dy) <= SIZE)
    else:
      inside = dx * dx + dy * dy < (SIZE + 0.5) ** 2
    image[inside] = RGB[k]
  return image


def answer(scene: Scene, q: Question) -> int:
  """The index in ``ANSWERS`` of the answer to ``q`` about ``scene``."""
  c = q.color
  if q.qtype == NONREL:
    if q.subtype == 0:
      return int(scene.shape[c])
    if q.subtype == 1:
      return ANSWERS.index("left" if scene.x[c] < IMAGE_SIZE / 2 else "right")
    return ANSWERS.index("top" if scene.y[c] < IMAGE_SIZE / 2 else "bottom")
  d = squared_distances(scene)[c].astype(np.float64)
  if q.subtype == 2:
    return ANSWERS.index(str(int(np.sum(scene.shape == scene.shape[c]))))
  d[c] = np.inf if q.subtype == 0 else -np.inf
  other = int(np.argmin(d)) if q.subtype == 0 else int(np.argmax(d))
  return int(scene.shape[other])


def draw_questions(rng: np.random.Generator) -> list[Question]:
  """``QUESTIONS_PER_TYPE`` non-relational, then as many relational questions: a random colour,
  subtype and phrasing each."""
  out = []
  for qtype in (NONREL, REL):
    for _ in range(QUESTIONS_PER_TYPE):
      out.append(Question(int(rng.integers(NUM_OBJECTS)), qtype, int(rng.integers(3)),
                          int(rng.integers(NUM_TEMPLATES))))
  return out


def question_vector(q: Question) -> np.ndarray:
  """The paper's 11-bit encoding: colour one-hot, type one-hot, subtype one-hot."""
  v = np.zeros(VECTOR_SIZE, np.float32)
  v[q.color] = 1.0
  v[len(COLORS) + q.qtype] = 1.0
  v[len(COLORS) + 2 + q.subtype] = 1.0
  return v


def vector_question(v: np.ndarray) -> Question:
  """The ``Question`` (template 0) an 11-bit vector encodes, the inverse of ``question_vector``;
  a ``ValueError`` for a vector that is not three one-hot groups."""
  v = np.asarray(v)
  groups = (v[:len(COLORS)], v[len(COLORS):len(COLORS) + 2], v[len(COLORS) + 2:])
  if v.shape != (VECTOR_SIZE,) or any(
      np.count_nonzero(g) != 1 or g.max() != 1 for g in groups):
    raise ValueError(f"not a Sort-of-CLEVR question vector (colour, type and subtype one-hot, "
                     f"{VECTOR_SIZE} values): {v.tolist()}")
  return Question(*(int(np.argmax(g)) for g in groups))


def question_text(q: Question) -> str:
  return TEMPLATES[(q.qtype, q.subtype)][q.template].format(c=COLORS[q.color])


def tokenize(text: str) -> list[str]:
  """Lower-cased, "?" and "," split off, split on white space."""
  return text.lower().replace("?", " ? ").replace(",", " , ").split()


def encode(text: str, length: int = MAX_QUESTION_LENGTH) -> tuple[np.ndarray, int, list[str]]:
  """``(ids [length] padded with 0, true length, unknown words)`` of a question; words outside
  ``VOCAB`` become ``<unk>``; a question longer than ``length`` is a ``ValueError``."""
  words = tokenize(text)
  if not words:
    raise ValueError("the question is empty")
  if len(words) > length:
    raise ValueError(f"the question has {len(words)} words; at most {length} fit")
  index = {w: i for i, w in enumerate(VOCAB)}
  ids = np.zeros(length, np.int32)
  ids[:len(words)] = [index.get(w, index[UNK]) for w in words]
  return ids, len(words), [w for w in words if w not in index]


def parse_question(text: str) -> Question:
  """The ``Question`` an English question asks, if it is one of the phrasings of ``TEMPLATES``
  (any colour); ``ValueError`` naming the question otherwise."""
  words = tokenize(text)
  for (qtype, subtype), phrasings in TEMPLATES.items():
    for t, phrasing in enumerate(phrasings):
      pattern = phrasing.split()
      if len(pattern) != len(words):
        continue
      color = None
      for p, w in zip(pattern, words):
        if p == "{c}":
          if w not in COLORS:
            break
          color = COLORS.index(w)
        elif p != w:
          break
      else:
        return Question(color, qtype, subtype, t)
  raise ValueError(f"{text!r} is not a question the vector form can encode; ask one of: "
                   + " | ".join(p[0].format(c="<colour>") for p in TEMPLATES.values()))


def example(seed: int, split_id: int, index: int) -> dict:
  """Image ``index`` of split ``split_id``: the image, its objects and its 20 questions with
  answers (a pure function of the three numbers)."""
  rng = np.random.default_rng([seed, split_id, index])
  scene = draw_scene(rng)
  qs = draw_questions(rng)
  return {"index": index, "image": render(scene),
          "shape": scene.shape, "x": scene.x, "y": scene.y,
          "color": np.array([q.color for q in qs], np.int64),
          "qtype": np.array([q.qtype for q in qs], np.int64),
          "subtype": np.array([q.subtype for q in qs], np.int64),
          "template": np.array([q.template for q in qs], np.int64),
          "answer": np.array([answer(scene, q) for q in qs], np.int64)}


@dataclasses.dataclass(frozen=True)
class Sizes:
  train: int
  validation: int
  test: int
  seed: int = 0


CONFIGS = {"sort_of_clevr": Sizes(9800, 200, 1000),
           # five times the paper's training images, not in the paper: the same seed, so its
           # first 9,800 training images and its validation and test splits are sort_of_clevr's
           # (is a model that overfits 9,800 images limited by the data?)
           "sort_of_clevr_49k": Sizes(49000, 200, 1000),
           "sort_of_clevr_tiny": Sizes(64, 16, 16)}
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
_QUESTIONS = 2 * QUESTIONS_PER_TYPE


class SeqjaxSortOfClevr(tfds.core.GeneratorBasedBuilder):
  """Generated Sort-of-CLEVR (see the module docstring); nothing is downloaded."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(
      name=n, description=f"{s.train}/{s.validation}/{s.test} images, seed {s.seed}")
      for n, s in CONFIGS.items()]

  def _info(self):
    n, q = NUM_OBJECTS, _QUESTIONS
    ints = lambda k: tfds.features.Tensor(shape=(k,), dtype=np.int64)
    features = dict(
        index=tfds.features.Scalar(np.int64),
        image=tfds.features.Tensor(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8,
                                   encoding=tfds.features.Encoding.ZLIB),
        shape=ints(n), x=ints(n), y=ints(n), color=ints(q), qtype=ints(q), subtype=ints(q),
        template=ints(q), answer=ints(q))
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features),
                                 disable_shuffling=True,
                                 homepage="https://arxiv.org/abs/1706.01427")

  def _split_generators(self, dl_manager):
    del dl_manager
    sizes = CONFIGS[self.builder_config.name]
    return {split: self._generate_examples(sizes.seed, SPLIT_IDS[split],
                                           getattr(sizes, split))
            for split in SPLIT_IDS}

  def _generate_examples(self, seed: int, split_id: int, count: int
                         ) -> Iterator[tuple[int, dict]]:
    for i in range(count):
      yield i, example(seed, split_id, i)


for _name in CONFIGS:
  registry.register(registry.DatasetSpec(
      _name, registry.VQA, SeqjaxSortOfClevr, _name, None,
      description=f"Sort-of-CLEVR, generated ({CONFIGS[_name].train} training images)"))


@dataclasses.dataclass
class Images:
  """One split as arrays: ``images [N, 75, 75, 3] uint8``, objects ``shape/x/y [N, 6]`` and
  questions ``color/qtype/subtype/template/answer [N, 20]``, in image order."""
  images: np.ndarray
  shape: np.ndarray
  x: np.ndarray
  y: np.ndarray
  color: np.ndarray
  qtype: np.ndarray
  subtype: np.ndarray
  template: np.ndarray
  answer: np.ndarray

  def __len__(self) -> int:
    return len(self.images)

  def scene(self, i: int) -> Scene:
    return Scene(self.shape[i], self.x[i], self.y[i])

  def questions(self, i: int) -> list[Question]:
    return [Question(int(c), int(t), int(s), int(p)) for c, t, s, p in
            zip(self.color[i], self.qtype[i], self.subtype[i], self.template[i])]


def generated(dataset: str, split: str, first: int = 0, count: Optional[int] = None) -> Images:
  """Images ``first .. first + count - 1`` (default: to the end) of ``split`` of ``dataset``
  (a ``CONFIGS`` name) drawn straight from the generator, as ``Images``; nothing is read. A
  ``ValueError`` names a range outside the split."""
  sizes = CONFIGS[dataset]
  total = getattr(sizes, split)
  count = total - first if count is None else count
  if first < 0 or count < 1 or first + count > total:
    raise ValueError(f"images {first}..{first + count - 1}: the {dataset} {split} split has "
                     f"{total} images (0..{total - 1})")
  es = [example(sizes.seed, SPLIT_IDS[split], i) for i in range(first, first + count)]
  stack = lambda k: np.stack([e[k] for e in es])
  return Images(images=stack("image"), **{k: stack(k) for k in (
      "shape", "x", "y", "color", "qtype", "subtype", "template", "answer")})


def load(builder, split: str) -> Images:
  """One split of a prepared ``SeqjaxSortOfClevr``; every stored image and answer is checked
  against the one redrawn or recomputed from the stored objects (a ``ValueError`` naming the
  image otherwise)."""
  import grain  # pylint: disable=g-import-not-at-top
  es = sorted(grain.MapDataset.source(builder.as_data_source(split=split)),
              key=lambda e: int(e["index"]))
  if [int(e["index"]) for e in es] != list(range(len(es))):
    raise ValueError(f"the prepared Sort-of-CLEVR {split} split in {builder.data_dir} is missing "
                     "images; delete it to prepare it again")
  stack = lambda k: np.stack([np.asarray(e[k]) for e in es])
  out = Images(images=stack("image").astype(np.uint8),
               **{k: stack(k).astype(np.int64) for k in ("shape", "x", "y", "color", "qtype",
                                                          "subtype", "template", "answer")})
  for i in range(len(out)):
    scene = out.scene(i)
    if not np.array_equal(render(scene), out.images[i]):
      raise ValueError(f"the prepared Sort-of-CLEVR {split} split in {builder.data_dir}: image "
                       f"{i} is not the drawing of its stored objects (corrupted, or prepared by "
                       "another generator); delete the directory to prepare it again")
    for j, q in enumerate(out.questions(i)):
      if answer(scene, q) != out.answer[i, j]:
        raise ValueError(f"the prepared Sort-of-CLEVR {split} split in {builder.data_dir}: image "
                         f"{i} question {j} has answer {ANSWERS[out.answer[i, j]]!r}; its "
                         f"objects say {ANSWERS[answer(scene, q)]!r}")
  return out


def question_arrays(data: Images, form: str) -> dict[str, np.ndarray]:
  """Every image's 20 questions as arrays ``[N, 20, ...]``: ``question`` (the ``[11]`` vector, or
  ``[L]`` token ids with ``length``), ``answer`` and ``kind`` (index in ``SUBTYPE_NAMES``)."""
  n, q = data.color.shape
  qs = [question for i in range(n) for question in data.questions(i)]
  out = {"answer": data.answer.astype(np.int32),
         "kind": np.array([x.kind for x in qs], np.int32).reshape(n, q)}
  if form == "vector":
    out["question"] = np.stack([question_vector(x) for x in qs]).reshape(n, q, VECTOR_SIZE)
  else:
    cache: dict[tuple, tuple] = {}
    ids, lengths = [], []
    for x in qs:
      key = (x.color, x.qtype, x.subtype, x.template)
      if key not in cache:
        cache[key] = encode(question_text(x))[:2]
      ids.append(cache[key][0])
      lengths.append(cache[key][1])
    out["question"] = np.stack(ids).reshape(n, q, -1)
    out["length"] = np.asarray(lengths, np.int32).reshape(n, q)
  return out


def grid_figure(data: Images, indices: Sequence[int], path: str, *,
                predictions: Optional[dict] = None, questions_per_image: int = 4,
                title: str = "", first: int = 0) -> None:
  """A PNG grid: each image with some of its questions and answers (and a model's predictions,
  ``predictions[(i, j)] = answer index``, marked right or wrong), so the generator (or a model)
  can be checked by eye. Image ``i`` is titled ``first + i`` (its number in the split)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  cols = min(4, len(indices))
  rows = -(-len(indices) // cols)
  lines_per_image = questions_per_image * 2
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, (4.6 + 0.15 * lines_per_image) * rows),
                           squeeze=False)
  for ax in axes.ravel()[len(indices):]:
    ax.axis("off")
  for ax, i in zip(axes.ravel(), indices):
    ax.imshow(data.images[i], interpolation="nearest")
    lines = []
    qs = data.questions(i)
    picks = [j for j in range(len(qs)) if j % (len(qs) // questions_per_image) == 0]
    for j in picks[:questions_per_image]:
      truth = ANSWERS[data.answer[i, j]]
      line = f"{question_text(qs[j])}\n  answer: {truth}"
      if predictions is not None and (i, j) in predictions:
        p = ANSWERS[predictions[(i, j)]]
        line += f"; model: {p} ({'right' if p == truth else 'WRONG'})"
      lines.append(line)
    ax.set_title(f"image {first + i}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("\n".join(lines), fontsize=6.5, family="monospace", loc="left")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110, bbox_inches="tight")  # the question lines below the images
  plt.close(fig)
