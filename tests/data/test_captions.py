"""Caption data: the scene generator and its rule-based checker (captions checked against the
objects), the Flickr8k and Karpathy readers on files written in exactly those formats (a
malformed line names file:line), the prepared TFDS copies, and tampered stored data refused."""

import json
import os

import numpy as np
import pytest

from seqjax.data import builders, captions, registry


def scene(objects):
  """A scene from ``[(colour, shape, x, y)]`` by name."""
  return captions.Scene(
      color=np.array([captions.COLORS.index(c) for c, _, _, _ in objects]),
      shape=np.array([captions.SHAPES.index(s) for _, s, _, _ in objects]),
      x=np.array([x for _, _, x, _ in objects]), y=np.array([y for _, _, _, y in objects]))


def test_every_generated_caption_is_true_of_its_scene():
  relations = set()
  for i in range(400):
    e = captions.scene_example(0, i % 3, i)
    n = int(e["objects"])
    s = captions.Scene(*(e[k][:n] for k in ("color", "shape", "x", "y")))
    assert captions.MIN_OBJECTS <= n <= captions.MAX_OBJECTS
    assert len(set(s.color.tolist())) == n  # one object per colour
    d = np.hypot(s.x[:, None] - s.x[None], s.y[:, None] - s.y[None]) + 1e3 * np.eye(n)
    assert d.min() >= captions.MIN_DISTANCE
    refs = e["captions"].split("\n")
    assert len(refs) == captions.CAPTIONS_PER_IMAGE
    for c in refs:
      assert captions.tokenize(c) == c.split()  # stored exactly as the models see them
      check = captions.check_caption(c, s)
      assert check.present == check.named
      assert check.counts_correct == check.counts
      if check.relation is not None:
        assert check.relation_correct and check.relation_clear, c
        relations.add(check.relation)
    assert captions.check_caption(refs[3], s).counts >= 1  # the count caption counts
    assert captions.check_caption(refs[4], s).named == n  # the list names every object
  assert relations == set(captions.RELATIONS)


def test_the_checker_catches_false_captions():
  s = scene([("red", "circle", 10, 10), ("blue", "square", 40, 12), ("green", "square", 20, 50)])
  assert captions.relation(s, 0, 1) == "left" and captions.relation(s, 2, 0) == "below"
  assert captions.relation(s, 0, 0) is None
  ok = captions.check_caption("a red circle is to the left of a blue square", s)
  assert (ok.named, ok.present, ok.relation, ok.relation_correct) == (2, 2, "left", True)
  assert ok.relation_clear
  wrong = captions.check_caption("the red circle is right of the blue square", s)
  assert wrong.relation == "right" and not wrong.relation_correct
  # True (the circle's centre is 2 pixels higher) but not the clear relation ("left of").
  unclear = captions.check_caption("a red circle above a blue square", s)
  assert unclear.relation_correct and not unclear.relation_clear
  absent = captions.check_caption("a red square above a green square", s)  # no red square
  assert (absent.named, absent.present, absent.relation_correct) == (2, 1, False)
  counts = captions.check_caption("there are two squares and two circles", s)
  assert (counts.counts, counts.counts_correct) == (2, 1)
  assert captions.check_caption("an orange", s).named == 0


def test_rendering_draws_each_shape():
  s = scene([("red", "square", 10, 10), ("blue", "circle", 40, 12), ("gray", "triangle", 30, 45)])
  image = captions.render(s)
  assert image.shape == (64, 64, 3) and image.dtype == np.uint8
  pixels = {c: int(np.all(image == captions.RGB[captions.COLORS.index(c)], -1).sum())
            for c in ("red", "blue", "gray")}
  assert pixels["red"] == 11 * 11
  assert pixels["blue"] == sum(1 for dx in range(-6, 7) for dy in range(-6, 7)
                               if dx * dx + dy * dy < 5.5 ** 2)
  assert pixels["gray"] == sum(2 * ((dy + 5) // 2) + 1 for dy in range(-5, 6))
  # The triangle points up: its top row is one pixel, its bottom row the widest.
  gray = np.all(image == captions.RGB[captions.COLORS.index("gray")], -1)
  assert gray[40].sum() == 1 and gray[50].sum() == 11
  a = captions.scene_example(0, 2, 5)
  b = captions.scene_example(0, 2, 5)
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["captions"] == b["captions"] != captions.scene_example(0, 2, 6)["captions"]


# ----------------------------------------------------------------------------- real formats
def write_png(path, seed):
  """A generated scene stretched to 128 wide, 192 high (a non-square photo)."""
  from PIL import Image
  e = captions.scene_example(0, 0, seed)
  Image.fromarray(np.repeat(np.repeat(e["image"], 3, 0), 2, 1)).save(path, format="PNG")


def write_flickr8k(directory, names=("1000_a.jpg", "1001_b.jpg", "1002_c.jpg", "1003_d.jpg")):
  """A Flickr8k-format directory: token file, split files and images (PNG bytes named .jpg, as
  Pillow reads by content)."""
  os.makedirs(os.path.join(directory, "Flicker8k_Dataset"), exist_ok=True)
  lines = []
  for i, name in enumerate(names):
    write_png(os.path.join(directory, "Flicker8k_Dataset", name), i)
    for k in range(5):
      lines.append(f"{name}#{k}\tA scene , number {i} , caption {k} .")
  with open(os.path.join(directory, "Flickr8k.token.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
  for split, picks in (("train", names[:2]), ("dev", names[2:3]), ("test", names[3:])):
    with open(os.path.join(directory, f"Flickr_8k.{split}Images.txt"), "w") as f:
      f.write("\n".join(picks) + "\n")
  return directory


def test_flickr8k_reader_and_its_errors(tmp_path):
  d = write_flickr8k(str(tmp_path))
  caps = captions.read_flickr8k_captions(os.path.join(d, "Flickr8k.token.txt"))
  assert list(caps) == ["1000_a.jpg", "1001_b.jpg", "1002_c.jpg", "1003_d.jpg"]
  assert caps["1001_b.jpg"][2] == "A scene , number 1 , caption 2 ."
  assert captions.tokenize(caps["1001_b.jpg"][2]) == "a scene number 1 caption 2".split()
  bad = tmp_path / "bad.txt"
  bad.write_text("1000_a.jpg#0\tfine\n1000_a.jpg#1 no tab here\n")
  with pytest.raises(ValueError, match=r"bad.txt:2: expected '<image file>#<number><TAB>"):
    captions.read_flickr8k_captions(str(bad))
  bad.write_text("1000_a.jpg\tno number\n")
  with pytest.raises(ValueError, match=r"bad.txt:1: expected"):
    captions.read_flickr8k_captions(str(bad))
  split = tmp_path / "split.txt"
  split.write_text("1000_a.jpg\n\n9999_z.jpg\n")
  with pytest.raises(ValueError, match=r"split.txt:3: '9999_z.jpg' has no captions in"):
    captions.read_image_list(str(split), caps, "Flickr8k.token.txt")
  with pytest.raises(FileNotFoundError, match="image 'nope.jpg' is in none of"):
    captions.find_image(d, "nope.jpg")
  (tmp_path / "broken.jpg").write_bytes(b"not an image")
  with pytest.raises(ValueError, match="broken.jpg: not a readable image"):
    captions.read_image(str(tmp_path / "broken.jpg"), 32)
  image = captions.read_image(os.path.join(d, "Flicker8k_Dataset", "1000_a.jpg"), 32)
  assert image.shape == (32, 32, 3) and image.dtype == np.uint8


def write_karpathy(directory, name="flickr8k"):
  os.makedirs(os.path.join(directory, "images", "val2014"), exist_ok=True)
  entries = []
  for i, split in enumerate(("train", "restval", "val", "test")):
    filename = f"img_{i}.png"
    write_png(os.path.join(directory, "images", "val2014", filename), i)
    entries.append({"filepath": "val2014", "filename": filename, "imgid": i, "split": split,
                    "sentences": [{"raw": f"Image {i}, sentence {k}.",
                                   "tokens": ["image", str(i), "sentence", str(k)]}
                                  for k in range(3)]})
  path = os.path.join(directory, f"dataset_{name}.json")
  with open(path, "w") as f:
    json.dump({"images": entries, "dataset": name}, f, indent=1)
  return path


def test_karpathy_reader_and_its_errors(tmp_path):
  path = write_karpathy(str(tmp_path))
  splits = captions.read_karpathy(path)
  assert [rel for rel, _ in splits["train"]] == ["val2014/img_0.png", "val2014/img_1.png"]
  assert [len(x) for x in splits.values()] == [2, 1, 1]
  assert splits["test"][0][1][1] == "Image 3, sentence 1."
  assert captions.find_image(str(tmp_path), "val2014/img_3.png").endswith(
      os.path.join("images", "val2014", "img_3.png"))
  with open(path) as f:
    text = f.read()
  bad = tmp_path / "bad.json"
  bad.write_text(text.replace('"split": "val"', '"split" "val"'))
  line = text[:text.index('"split": "val"')].count("\n") + 1
  with pytest.raises(ValueError, match=rf"bad.json:{line}: not valid JSON"):
    captions.read_karpathy(str(bad))
  data = json.loads(text)
  del data["images"][2]["sentences"]
  bad.write_text(json.dumps(data))
  with pytest.raises(ValueError, match=r"bad.json: images\[2\] \(img_2.png\) lacks 'sentences'"):
    captions.read_karpathy(str(bad))
  data = json.loads(text)
  data["images"][1]["split"] = "dev"
  bad.write_text(json.dumps(data))
  with pytest.raises(ValueError, match=r"images\[1\] \(img_1.png\): split 'dev' is not one of"):
    captions.read_karpathy(str(bad))


def test_both_real_formats_prepare_through_tfds(tmp_path):
  flickr = write_flickr8k(str(tmp_path / "flickr8k"))
  builder = registry.prepare("flickr8k", kind=registry.CAPTIONS,
                             data_dir=str(tmp_path / "tfds"), manual_dir=flickr)
  train = captions.load(builder, "train", generated=False)
  assert train.filenames == ["1000_a.jpg", "1001_b.jpg"] and train.scenes is None
  assert train.images.shape == (2, captions.REAL_IMAGE_SIZE, captions.REAL_IMAGE_SIZE, 3)
  assert train.captions[1][4] == "a scene number 1 caption 4".split()
  expect = captions.read_image(os.path.join(flickr, "Flicker8k_Dataset", "1001_b.jpg"),
                               captions.REAL_IMAGE_SIZE)
  np.testing.assert_array_equal(train.images[1], expect)
  assert len(captions.load(builder, "test", generated=False)) == 1
  # Replacing an image after preparing prepares the copy again (the folder is fingerprinted),
  # rather than training on the stale pixels.
  write_png(os.path.join(flickr, "Flicker8k_Dataset", "1001_b.jpg"), 9)
  logged = []
  builder = builders.prepare(registry.get("flickr8k"), data_dir=str(tmp_path / "tfds"),
                             manual_dir=flickr, log=logged.append)
  assert len(logged) == 1 and "a file in Flicker8k_Dataset/ was replaced" in logged[0]
  fresh = captions.load(builder, "train", generated=False)
  np.testing.assert_array_equal(fresh.images[1], captions.read_image(
      os.path.join(flickr, "Flicker8k_Dataset", "1001_b.jpg"), captions.REAL_IMAGE_SIZE))
  assert not np.array_equal(fresh.images[1], train.images[1])
  karpathy = tmp_path / "coco"
  write_karpathy(str(karpathy), "coco")
  builder = registry.prepare("coco_karpathy", kind=registry.CAPTIONS,
                             data_dir=str(tmp_path / "tfds"), manual_dir=str(karpathy))
  val = captions.load(builder, "validation", generated=False)
  assert val.filenames == ["val2014/img_2.png"]
  assert val.captions[0] == [["image", "2", "sentence", str(k)] for k in range(3)]
  with pytest.raises(FileNotFoundError, match=r"lacks \['dataset_flickr30k.json'\]"):
    registry.prepare("flickr30k_karpathy", kind=registry.CAPTIONS,
                     data_dir=str(tmp_path / "tfds"), manual_dir=str(karpathy))


@pytest.fixture(scope="module")
def tiny_builder(tmp_path_factory):
  return registry.prepare("scene_captions_tiny", kind=registry.CAPTIONS,
                          data_dir=str(tmp_path_factory.mktemp("tfds_captions")))


def test_the_prepared_scenes_are_the_generated_ones(tiny_builder):
  sizes = captions.SCENE_CONFIGS["scene_captions_tiny"]
  for split, split_id in captions.SPLIT_IDS.items():
    data = captions.load(tiny_builder, split, generated=True)
    assert len(data) == getattr(sizes, split)
    for i in (0, len(data) - 1):
      e = captions.scene_example(sizes.seed, split_id, i)
      np.testing.assert_array_equal(data.images[i], e["image"])
      assert [" ".join(c) for c in data.captions[i]] == e["captions"].split("\n")
      assert len(data.scenes[i]) == e["objects"]


class _Tampered:
  """A builder whose stored example 3 has one pixel, caption or object changed."""

  def __init__(self, builder, key):
    self.builder, self.data_dir, self.key = builder, builder.data_dir, key
    self.name, self.builder_config = builder.name, builder.builder_config

  def as_data_source(self, split):
    es = [dict(e) for e in self.builder.as_data_source(split=split)]
    if self.key == "image":
      value = np.array(es[3]["image"])
      value[0, 0] = 255 - value[0, 0]
    elif self.key == "captions":
      value = es[3]["captions"].replace(b"above", b"below").replace(b"left", b"right") + b" x"
    else:
      value = np.array(es[3]["x"])
      value[0] += 1
    es[3][self.key] = value
    return es


@pytest.mark.parametrize("key", ["image", "captions", "x"])
def test_stored_scenes_that_disagree_with_the_generator_are_refused(tiny_builder, key):
  with pytest.raises(ValueError, match="validation split .* image 3 is not the drawing"):
    captions.load(_Tampered(tiny_builder, key), "validation", generated=True)
