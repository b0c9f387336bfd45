"""Image captioning data: generated scenes with exactly known captions, and readers for the caption
datasets people use (Flickr8k's own files; the Karpathy-split JSON of Flickr8k/30k and COCO),
each prepared once as ArrayRecord through a TFDS builder.

**Generated scenes** (``scene_captions``: 10,000 / 500 / 1,000 images; ``scene_captions_tiny``:
64 / 16 / 16). A 64x64 RGB image on a white background holds 2 to 4 objects of different colours
(``COLORS``), each a square, a circle or a triangle (``SHAPES``, 11 pixels across), at centres at
least 14 pixels apart. Each image has ``CAPTIONS_PER_IMAGE`` (5) reference captions from
templates with varied wording, so BLEU against several references means something:

- three relational ones about a pair of objects, which stand clearly apart along one axis
  ("a red circle above a blue square", "the blue square is below the red circle", "there is an
  orange triangle to the left of a gray circle"): the relation is stated only when the pair's
  offset along that axis is at least ``MARGIN`` pixels and exceeds the other axis's;
- one count ("two squares and a circle", "there are two squares one circle and one triangle");
- one list, left to right ("from left to right a red circle a blue square and a green
  triangle"). Generated captions have no punctuation.

``check_caption`` is the rule-based checker of a caption against a scene: which named objects
exist, whether a stated relation holds, whether stated counts are right. Image ``i`` of split
``s`` is drawn from ``np.random.default_rng([seed, split id, i])``.

**Real datasets** (need ``data.manual_dir``; nothing is downloaded: Flickr8k is distributed on
request, COCO's images are 19 GB). Images are decoded with Pillow and resized (warped, as
NeuralTalk does) to ``REAL_IMAGE_SIZE`` square pixels when prepared.

- ``flickr8k``: ``Flickr8k.token.txt`` (lines ``<image>#<n>\\t<caption>``) and
  ``Flickr_8k.{train,dev,test}Images.txt`` (one file name per line) from ``Flickr8k_text.zip``,
  the images in ``Flicker8k_Dataset/`` (the folder of ``Flickr8k_Dataset.zip``; ``Flickr8k_Dataset/``
  or ``Images/`` are accepted too).
- ``flickr8k_karpathy`` / ``flickr30k_karpathy`` / ``coco_karpathy``: ``dataset_<name>.json``
  (``{"images": [{"filename", "filepath"?, "split", "sentences": [{"raw", "tokens"}]}]}``;
  ``restval`` images join the training split, as usual) and the images, at
  ``<filepath>/<filename>`` below the directory or below one of its image folders
  (``Flicker8k_Dataset/``, ``flickr30k-images/``, ``images/``).

A malformed line or entry is a ``ValueError`` naming ``file:line`` (or the JSON entry); an image
that is missing or cannot be decoded names its path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Iterator, Optional

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data import builders, registry
from seqjax.data.clevr import SPLIT_IDS, Sizes  # the generated sets' split sizes and ids

# ---------------------------------------------------------------------------------- the scenes
IMAGE_SIZE = 64
SIZE = 5  # half the side of a square, the radius of a circle, half a triangle's height
MIN_DISTANCE = 14  # between object centres
MIN_OBJECTS, MAX_OBJECTS = 2, 4
MARGIN = 8  # a relation is stated only for offsets at least this many pixels along its axis
CAPTIONS_PER_IMAGE = 5
COLORS = ("red", "green", "blue", "orange", "gray", "yellow", "purple")
RGB = np.array([(255, 0, 0), (0, 200, 0), (0, 0, 255), (255, 156, 0), (128, 128, 128),
                (230, 230, 0), (150, 0, 200)], np.uint8)
SHAPES = ("square", "circle", "triangle")
PLURALS = {"square": "squares", "circle": "circles", "triangle": "triangles"}
NUMBERS = ("zero", "one", "two", "three", "four")
RELATIONS = ("above", "below", "left", "right")
# How each relation is worded (a relation's phrasings; "left of" and "to the left of" alike).
RELATION_WORDS = {"above": ("above",), "below": ("below",),
                  "left": ("to the left of", "left of"), "right": ("to the right of", "right of")}
REAL_IMAGE_SIZE = 128


@dataclasses.dataclass(frozen=True)
class Scene:
  """One image's objects: ``color`` (index in ``COLORS``, all different), ``shape`` (index in
  ``SHAPES``), centre ``x`` (column) and ``y`` (row, 0 at the top), in pixels."""
  color: np.ndarray
  shape: np.ndarray
  x: np.ndarray
  y: np.ndarray

  def __len__(self) -> int:
    return len(self.color)

  def name(self, k: int) -> str:
    return f"{COLORS[self.color[k]]} {SHAPES[self.shape[k]]}"


def draw_scene(rng: np.random.Generator) -> Scene:
  """2 to 4 objects of different colours and random shapes, at centres ``MIN_DISTANCE`` apart
  or more, inside the image."""
  n = int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))
  centres: list[tuple[int, int]] = []
  while len(centres) < n:
    c = rng.integers(SIZE + 1, IMAGE_SIZE - SIZE - 1, size=2)
    if all((c[0] - a) ** 2 + (c[1] - b) ** 2 >= MIN_DISTANCE ** 2 for a, b in centres):
      centres.append((int(c[0]), int(c[1])))
  xy = np.asarray(centres, np.int64)
  return Scene(color=rng.choice(len(COLORS), size=n, replace=False).astype(np.int64),
               shape=rng.integers(0, len(SHAPES), size=n).astype(np.int64),
               x=xy[:, 0], y=xy[:, 1])


def render(scene: Scene) -> np.ndarray:
  """The ``[64, 64, 3]`` uint8 image: a white background; a filled square ``|dx|, |dy| <= 5``,
  disc ``dx^2 + dy^2 < 5.5^2`` or upward triangle ``-5 <= dy <= 5, 2|dx| <= dy + 5`` per
  object."""
  image = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 255, np.uint8)
  rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
  for k in range(len(scene)):
    dy, dx = rows - scene.y[k], cols - scene.x[k]
    shape = SHAPES[scene.shape[k]]
    if shape == "square":
      inside = (np.abs(dx) <= SIZE) & (np.abs(dy) <= SIZE)
    elif shape == "circle":
      inside = dx * dx + dy * dy < (SIZE + 0.5) ** 2
    else:
      inside = (dy >= -SIZE) & (dy <= SIZE) & (2 * np.abs(dx) <= dy + SIZE)
    image[inside] = RGB[scene.color[k]]
  return image


def relation(scene: Scene, a: int, b: int) -> Optional[str]:
  """The clear relation of object ``a`` to object ``b`` (``"above"``, ``"below"``, ``"left"``,
  ``"right"``) or ``None``: the offset along one axis must be at least ``MARGIN`` pixels and
  larger than along the other."""
  dx, dy = int(scene.x[b] - scene.x[a]), int(scene.y[b] - scene.y[a])
  if abs(dy) >= MARGIN and abs(dy) > abs(dx):
    return "above" if dy > 0 else "below"
  if abs(dx) >= MARGIN and abs(dx) > abs(dy):
    return "left" if dx > 0 else "right"
  return None


def holds(scene: Scene, a: int, b: int, rel: str) -> bool:
  """Whether ``a <rel> b`` is true of the scene (any offset in the right direction)."""
  if rel == "above":
    return bool(scene.y[a] < scene.y[b])
  if rel == "below":
    return bool(scene.y[a] > scene.y[b])
  if rel == "left":
    return bool(scene.x[a] < scene.x[b])
  return bool(scene.x[a] > scene.x[b])


def article(name: str) -> str:
  """``"an orange circle"``, ``"a red circle"``."""
  return ("an " if name[0] in "aeiou" else "a ") + name


def _join(parts: list[str]) -> str:
  return parts[0] if len(parts) == 1 else " ".join(parts[:-1]) + " and " + parts[-1]


def _count_phrase(scene: Scene, rng: np.random.Generator) -> str:
  counts = [(int(np.sum(scene.shape == s)), SHAPES[s]) for s in range(len(SHAPES))]
  counts = sorted([c for c in counts if c[0]], key=lambda c: (-c[0], c[1]))
  single = "a" if rng.integers(2) == 0 else "one"
  return _join([f"{NUMBERS[n]} {PLURALS[s]}" if n > 1 else f"{single} {s}" for n, s in counts])


def _list_phrase(scene: Scene) -> str:
  return _join([article(scene.name(k)) for k in np.argsort(scene.x, kind="stable")])


_RELATION_TEMPLATES = ("{a} {r} {b}", "{a} is {r} {b}", "there is {a} {r} {b}",
                       "the {a_} is {r} the {b_}")


def draw_captions(scene: Scene, rng: np.random.Generator) -> list[str]:
  """The scene's ``CAPTIONS_PER_IMAGE`` references: three relational (random clear pairs,
  templates and wordings), a count and a left-to-right list. Lower-case words separated by
  single spaces, without punctuation (``tokenize`` returns them unchanged)."""
  pairs = [(a, b) for a in range(len(scene)) for b in range(len(scene))
           if a != b and relation(scene, a, b) is not None]
  out = []
  for _ in range(3):
    if pairs:
      a, b = pairs[int(rng.integers(len(pairs)))]
      words = RELATION_WORDS[relation(scene, a, b)]
      template = _RELATION_TEMPLATES[int(rng.integers(len(_RELATION_TEMPLATES)))]
      out.append(template.format(a=article(scene.name(a)), b=article(scene.name(b)),
                                 a_=scene.name(a), b_=scene.name(b),
                                 r=words[int(rng.integers(len(words)))]))
    else:  # no pair stands clearly apart (rare): another list
      out.append(_list_phrase(scene))
  count = _count_phrase(scene, rng)
  if rng.integers(2):
    plural = " and " in count or not count.startswith(("a ", "one "))
    count = ("there are " if plural else "there is ") + count
  out.append(count)
  out.append(_list_phrase(scene) if rng.integers(2) == 0
             else "from left to right " + _list_phrase(scene))
  return out


# ---------------------------------------------------------------------------------- the checker
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4}


@dataclasses.dataclass
class Check:
  """What ``check_caption`` found in one caption."""
  named: int = 0  # objects named as "<colour> <shape>"
  present: int = 0  # of them, objects the scene has
  relation: Optional[str] = None  # the first relation stated, if any
  relation_correct: bool = False  # both its objects exist and it holds
  relation_clear: bool = False  # ... and it is the clear relation the generator would state
  counts: int = 0  # "<number> <shape(s)>" phrases outside object names
  counts_correct: int = 0


def check_caption(caption: str, scene: Scene) -> Check:
  """The rule-based checker. Objects are "<colour> <shape>" pairs; a relation is the first
  relation word between two consecutive object names ("the red circle is above the blue
  square"): ``relation_correct`` when both objects exist and it holds (any offset in its
  direction), ``relation_clear`` when it is moreover the pair's clear relation (``relation``:
  the one a reference would state); counts are "<number> <shape>" phrases ("two squares", "a
  circle", "one triangle") that are not part of an object name."""
  words = caption.split()
  out = Check()
  mentions = []  # (position, object index or None)
  for i in range(len(words) - 1):
    if words[i] in COLORS and words[i + 1] in SHAPES:
      c, s = COLORS.index(words[i]), SHAPES.index(words[i + 1])
      match = [k for k in range(len(scene)) if scene.color[k] == c and scene.shape[k] == s]
      out.named += 1
      out.present += bool(match)
      mentions.append((i, match[0] if match else None))
  for (i, a), (j, b) in zip(mentions, mentions[1:]):
    between = words[i + 2:j]
    rel = next((w for w in between if w in RELATIONS), None)
    if rel is not None:
      out.relation = rel
      out.relation_correct = a is not None and b is not None and holds(scene, a, b, rel)
      out.relation_clear = out.relation_correct and relation(scene, a, b) == rel
      break
  named_at = {i for i, _ in mentions} | {i + 1 for i, _ in mentions}
  for i in range(len(words) - 1):
    if words[i] in _NUMBER_WORDS and i + 1 not in named_at:
      noun = words[i + 1]
      shape = noun if noun in SHAPES else next((s for s, p in PLURALS.items() if p == noun), None)
      if shape is None:
        continue
      out.counts += 1
      out.counts_correct += int(np.sum(scene.shape == SHAPES.index(shape))) == _NUMBER_WORDS[
          words[i]]
  return out


# ---------------------------------------------------------------------------------- real files
FLICKR8K_FILES = {"captions": "Flickr8k.token.txt", "train": "Flickr_8k.trainImages.txt",
                  "validation": "Flickr_8k.devImages.txt", "test": "Flickr_8k.testImages.txt"}
IMAGE_FOLDERS = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "flickr30k-images", "images",
                 "")
SPLITS = ("train", "validation", "test")
KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "validation", "test": "test"}


def tokenize(text: str) -> list[str]:
  """Lower-cased words of letters and digits (punctuation dropped), as the Karpathy splits'
  ``tokens``: ``"A dog's ball."`` -> ``["a", "dog", "s", "ball"]``."""
  return re.findall(r"[a-z0-9]+", text.lower())


def read_flickr8k_captions(path: str) -> dict[str, list[str]]:
  """``{image file: [captions]}`` of ``Flickr8k.token.txt``, in file order; a line that is not
  ``<image>#<n>\\t<caption>`` is a ``ValueError`` naming ``path:line``."""
  out: dict[str, list[str]] = {}
  for n, line in enumerate(builders.iter_lines(path), start=1):
    if not line.strip():
      continue
    key, tab, caption = line.partition("\t")
    name, hash_, number = key.rpartition("#")
    if not tab or not hash_ or not name or not number.isdigit() or not caption.strip():
      raise ValueError(f"{path}:{n}: expected '<image file>#<number><TAB><caption>'; got "
                       f"{line[:80]!r}")
    out.setdefault(name, []).append(caption.strip())
  if not out:
    raise ValueError(f"{path}: no captions")
  return out


def read_image_list(path: str, captions: dict[str, list[str]], captions_path: str) -> list[str]:
  """The image names of a Flickr8k split file; a name without captions names ``path:line``."""
  names = []
  for n, line in enumerate(builders.iter_lines(path), start=1):
    name = line.strip()
    if not name:
      continue
    if name not in captions:
      raise ValueError(f"{path}:{n}: {name!r} has no captions in {captions_path}")
    names.append(name)
  if not names:
    raise ValueError(f"{path}: lists no images")
  return names


def read_karpathy(path: str) -> dict[str, list[tuple[str, list[str]]]]:
  """``{split: [(image path relative to the image folder, [captions])]}`` of a Karpathy-split
  JSON file (``restval`` in ``train``). Invalid JSON names ``path:line``; an entry without its
  keys names ``path: images[i]``."""
  try:
    with open(path, "rb") as f:
      data = json.loads(f.read().decode("utf-8"))
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
  images = data.get("images") if isinstance(data, dict) else None
  if not isinstance(images, list) or not images:
    raise ValueError(f"{path}: expected an object with a non-empty 'images' list (a Karpathy "
                     "split file, dataset_<name>.json)")
  out: dict[str, list] = {s: [] for s in SPLITS}
  for i, image in enumerate(images):
    where = f"{path}: images[{i}]"
    if not isinstance(image, dict):
      raise ValueError(f"{where} is not an object")
    for key in ("filename", "split", "sentences"):
      if key not in image:
        raise ValueError(f"{where} ({image.get('filename', '?')}) lacks {key!r}")
    if image["split"] not in KARPATHY_SPLITS:
      raise ValueError(f"{where} ({image['filename']}): split {image['split']!r} is not one of "
                       f"{sorted(KARPATHY_SPLITS)}")
    sentences = image["sentences"]
    if not isinstance(sentences, list) or not sentences:
      raise ValueError(f"{where} ({image['filename']}): 'sentences' must be a non-empty list")
    captions = []
    for j, s in enumerate(sentences):
      if isinstance(s, dict) and isinstance(s.get("raw"), str) and s["raw"].strip():
        captions.append(s["raw"].strip())
      elif isinstance(s, dict) and isinstance(s.get("tokens"), list) and s["tokens"]:
        captions.append(" ".join(map(str, s["tokens"])))
      else:
        raise ValueError(f"{where} ({image['filename']}): sentences[{j}] has neither 'raw' text "
                         "nor 'tokens'")
    rel = os.path.join(image.get("filepath") or "", image["filename"])
    out[KARPATHY_SPLITS[image["split"]]].append((rel, captions))
  return out


def find_image(directory: str, rel: str) -> str:
  """``directory/<folder>/rel`` for the first of ``IMAGE_FOLDERS`` that has it;
  ``FileNotFoundError`` naming the places looked in otherwise."""
  for folder in IMAGE_FOLDERS:
    path = os.path.join(directory, folder, rel)
    if os.path.isfile(path):
      return path
  raise FileNotFoundError(f"data.manual_dir={directory!r}: image {rel!r} is in none of "
                          f"{[os.path.join(f, rel) for f in IMAGE_FOLDERS]}")


def read_image(path: str, size: int) -> np.ndarray:
  """``[size, size, 3]`` uint8 pixels of an image file (any format Pillow reads), resized
  (warped) with bicubic filtering; ``ValueError`` naming the file when it cannot be decoded."""
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as im:
      im = im.convert("RGB")
      if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BICUBIC)
      return np.asarray(im, np.uint8)
  except (UnidentifiedImageError, OSError, ValueError) as e:
    raise ValueError(f"{path}: not a readable image ({' '.join(str(e).split())})") from None


# ---------------------------------------------------------------------------------- builders
SCENE_CONFIGS = {"scene_captions": Sizes(10000, 500, 1000),
                 "scene_captions_tiny": Sizes(64, 16, 16)}


def scene_example(seed: int, split_id: int, index: int) -> dict:
  """Image ``index`` of split ``split_id``: a pure function of the three numbers."""
  rng = np.random.default_rng([seed, split_id, index])
  scene = draw_scene(rng)
  pad = lambda v: np.concatenate([v, np.full(MAX_OBJECTS - len(v), -1, np.int64)])
  return {"index": index, "image": render(scene), "filename": f"scene_{split_id}_{index}.png",
          "captions": "\n".join(draw_captions(scene, rng)), "objects": len(scene),
          "color": pad(scene.color), "shape": pad(scene.shape), "x": pad(scene.x),
          "y": pad(scene.y)}


def _features(size: int) -> tfds.features.FeaturesDict:
  ints = tfds.features.Tensor(shape=(MAX_OBJECTS,), dtype=np.int64)
  return tfds.features.FeaturesDict(dict(
      index=tfds.features.Scalar(np.int64),
      image=tfds.features.Tensor(shape=(size, size, 3), dtype=np.uint8,
                                 encoding=tfds.features.Encoding.ZLIB),
      filename=tfds.features.Text(), captions=tfds.features.Text(),  # one caption per line
      objects=tfds.features.Scalar(np.int64), color=ints, shape=ints, x=ints, y=ints))


class SeqjaxSceneCaptions(tfds.core.GeneratorBasedBuilder):
  """Generated scenes with template captions (see the module docstring); nothing is read."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(
      name=n, description=f"{s.train}/{s.validation}/{s.test} images, seed {s.seed}")
      for n, s in SCENE_CONFIGS.items()]

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=_features(IMAGE_SIZE),
                                 disable_shuffling=True)

  def _split_generators(self, dl_manager):
    del dl_manager
    sizes = SCENE_CONFIGS[self.builder_config.name]
    return {split: self._generate_examples(sizes.seed, SPLIT_IDS[split], getattr(sizes, split))
            for split in SPLITS}

  def _generate_examples(self, seed, split_id, count) -> Iterator[tuple[int, dict]]:
    for i in range(count):
      yield i, scene_example(seed, split_id, i)


class _RealCaptions(tfds.core.GeneratorBasedBuilder):
  """What the real datasets' builders share: the features, and examples read from image files
  (``_split_items`` gives each split's ``[(image path, name, captions)]``)."""

  HOMEPAGE = ""

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=_features(REAL_IMAGE_SIZE),
                                 disable_shuffling=True, homepage=self.HOMEPAGE)

  def _split_items(self, dl_manager) -> dict[str, list]:
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(items)
            for split, items in self._split_items(dl_manager).items()}

  def _generate_examples(self, items) -> Iterator[tuple[int, dict]]:
    for i, (path, name, caps) in enumerate(items):
      none = np.full(MAX_OBJECTS, -1, np.int64)
      yield i, {"index": i, "image": read_image(path, REAL_IMAGE_SIZE), "filename": name,
                "captions": "\n".join(" ".join(c.split()) for c in caps), "objects": 0,
                "color": none, "shape": none, "x": none, "y": none}


class SeqjaxFlickr8k(_RealCaptions):
  """Flickr8k from its own text files and image folder (see the module docstring)."""

  VERSION = tfds.core.Version("1.0.0")
  HOMEPAGE = "https://hockenmaier.cs.illinois.edu/8k-pictures.html"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Unzip Flickr8k_text.zip and Flickr8k_Dataset.zip (the dataset's request form at "
      "https://forms.illinois.edu/sec/1713398) into one directory: Flickr8k.token.txt, "
      "Flickr_8k.{train,dev,test}Images.txt and Flicker8k_Dataset/.")

  def _split_items(self, dl_manager):
    paths = builders.local_paths(self, dl_manager, FLICKR8K_FILES)
    if paths is None:
      raise FileNotFoundError(f"flickr8k needs data.manual_dir: "
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    directory = os.path.dirname(paths["captions"])
    captions = read_flickr8k_captions(paths["captions"])
    out = {}
    for split in SPLITS:
      names = read_image_list(paths[split], captions, paths["captions"])
      out[split] = [(find_image(directory, n), n, captions[n]) for n in names]
    return out


KARPATHY_CONFIGS = ("flickr8k", "flickr30k", "coco")


class SeqjaxKarpathyCaptions(_RealCaptions):
  """A Karpathy-split JSON file and its images (see the module docstring)."""

  VERSION = tfds.core.Version("1.0.0")
  HOMEPAGE = "https://cs.stanford.edu/people/karpathy/deepimagesent/"
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n, description=f"dataset_{n}.json")
                     for n in KARPATHY_CONFIGS]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "A directory with dataset_<name>.json (Karpathy's splits, caption_datasets.zip) and the "
      "images below it (Flicker8k_Dataset/, flickr30k-images/, or COCO's train2014/ and "
      "val2014/).")

  def _split_items(self, dl_manager):
    name = f"dataset_{self.builder_config.name}.json"
    paths = builders.local_paths(self, dl_manager, {"json": name})
    if paths is None:
      raise FileNotFoundError(f"{self.builder_config.name}_karpathy needs data.manual_dir: "
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    directory = os.path.dirname(paths["json"])
    splits = read_karpathy(paths["json"])
    out = {}
    for split in SPLITS:
      if not splits[split]:
        raise ValueError(f"{paths['json']}: no image is in the {split} split")
      out[split] = [(find_image(directory, rel), rel, caps) for rel, caps in splits[split]]
    return out


for _name, _sizes in SCENE_CONFIGS.items():
  registry.register(registry.DatasetSpec(
      _name, registry.CAPTIONS, SeqjaxSceneCaptions, _name, None,
      description=f"generated scenes with template captions ({_sizes.train} training images)"))
# A prepared copy records the image folders' file names and sizes too: a replaced image
# prepares the copy again (builders.source_fingerprint).
_IMAGE_DIRS = tuple(f for f in IMAGE_FOLDERS if f) + ("train2014", "val2014")
registry.register(registry.DatasetSpec("flickr8k", registry.CAPTIONS, SeqjaxFlickr8k, None,
                                      FLICKR8K_FILES, description="Flickr8k (its own files)",
                                      file_dirs=_IMAGE_DIRS))
for _name in KARPATHY_CONFIGS:
  registry.register(registry.DatasetSpec(
      f"{_name}_karpathy", registry.CAPTIONS, SeqjaxKarpathyCaptions, _name,
      {"json": f"dataset_{_name}.json"}, description=f"{_name}, Karpathy's splits",
      file_dirs=_IMAGE_DIRS))


# ---------------------------------------------------------------------------------- loading
@dataclasses.dataclass
class CaptionSplit:
  """One split in memory: ``images [N, S, S, 3]`` uint8, ``captions[i]`` (the references of
  image ``i``, each a list of words), ``filenames`` and, for generated scenes, ``scenes``."""
  images: np.ndarray
  captions: list[list[list[str]]]
  filenames: list[str]
  scenes: Optional[list[Scene]] = None

  def __len__(self) -> int:
    return len(self.images)

  def subset(self, n: int) -> "CaptionSplit":
    return CaptionSplit(self.images[:n], self.captions[:n], self.filenames[:n],
                        None if self.scenes is None else self.scenes[:n])


def load(builder, split: str, *, generated: bool) -> CaptionSplit:
  """One split of a prepared caption builder, in image order. For generated scenes every image
  and caption is checked against the one redrawn from the stored objects and seed (a
  ``ValueError`` naming the image otherwise)."""
  import grain  # pylint: disable=g-import-not-at-top
  es = sorted(grain.MapDataset.source(builder.as_data_source(split=split)),
              key=lambda e: int(e["index"]))
  where = f"the prepared {builder.name} {split} split in {builder.data_dir}"
  if [int(e["index"]) for e in es] != list(range(len(es))):
    raise ValueError(f"{where} is missing images; delete it to prepare it again")
  text = lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v)
  captions = [[tokenize(c) for c in text(e["captions"]).split("\n")] for e in es]
  for i, caps in enumerate(captions):
    if not caps or any(not c for c in caps):
      raise ValueError(f"{where}: image {i} has an empty caption")
  out = CaptionSplit(images=np.stack([np.asarray(e["image"], np.uint8) for e in es]),
                     captions=captions, filenames=[text(e["filename"]) for e in es])
  if generated:
    scenes = []
    sizes = SCENE_CONFIGS[builder.builder_config.name]
    for i, e in enumerate(es):
      n = int(e["objects"])
      scene = Scene(*(np.asarray(e[k], np.int64)[:n] for k in ("color", "shape", "x", "y")))
      expect = scene_example(sizes.seed, SPLIT_IDS[split], i)
      if (not np.array_equal(expect["image"], out.images[i])
          or text(e["captions"]) != expect["captions"]
          or any(not np.array_equal(expect[k], e[k]) for k in ("color", "shape", "x", "y"))):
        raise ValueError(f"{where}: image {i} is not the drawing (or captions) of its stored "
                         "objects (corrupted, or prepared by another generator); delete the "
                         "directory to prepare it again")
      scenes.append(scene)
    out.scenes = scenes
  return out


def is_generated(name: str) -> bool:
  return name in SCENE_CONFIGS
