"""The Sort-of-CLEVR generator: answers recomputed independently from the objects, the rendering,
the question forms, determinism, and the prepared TFDS copy."""

import math

import numpy as np
import pytest

from seqjax.data import clevr, registry


def independent_answer(shapes, xs, ys, color, qtype, subtype):
  """The answer word, from the object list alone (plain Python, no code shared with clevr)."""
  shape_word = lambda k: ["square", "circle"][int(shapes[k])]
  if qtype == 0:
    if subtype == 0:
      return shape_word(color)
    if subtype == 1:
      return "left" if 2 * int(xs[color]) < 75 else "right"
    return "top" if 2 * int(ys[color]) < 75 else "bottom"
  dist = {k: math.hypot(int(xs[k]) - int(xs[color]), int(ys[k]) - int(ys[color]))
          for k in range(6) if k != color}
  if subtype == 0:
    return shape_word(min(dist, key=dist.get))
  if subtype == 1:
    return shape_word(max(dist, key=dist.get))
  return str(sum(1 for k in range(6) if shapes[k] == shapes[color]))


@pytest.mark.parametrize("seed", [0, 1, 7, 2024])
def test_answers_match_the_objects_for_many_seeds(seed):
  kinds = np.zeros(6, int)
  for split in range(3):
    for i in range(40):
      e = clevr.example(seed, split, i)
      shapes, xs, ys = e["shape"], e["x"], e["y"]
      for j in range(20):
        q = (int(e["color"][j]), int(e["qtype"][j]), int(e["subtype"][j]))
        assert clevr.ANSWERS[e["answer"][j]] == independent_answer(shapes, xs, ys, *q)
        kinds[3 * q[1] + q[2]] += 1
      assert list(e["qtype"]) == [0] * 10 + [1] * 10
      # The layout: inside the image, centres 10+ apart, unique closest and furthest objects.
      assert np.all((xs >= 5) & (xs < 70) & (ys >= 5) & (ys < 70))
      for a in range(6):
        d = sorted(math.hypot(int(xs[a]) - int(xs[b]), int(ys[a]) - int(ys[b]))
                   for b in range(6) if b != a)
        assert d[0] >= 10 and d[0] < d[1] and d[-2] < d[-1]
  assert np.all(kinds > 100)  # every subtype asked


def test_the_image_shows_each_object_with_its_colour_and_shape():
  for i in range(30):
    e = clevr.example(3, 0, i)
    image = e["image"]
    assert image.shape == (75, 75, 3) and image.dtype == np.uint8
    want = np.full((75, 75, 3), 255, np.uint8)  # drawn pixel by pixel; later objects on top
    for row in range(75):
      for col in range(75):
        for k in range(6):
          dx, dy = col - int(e["x"][k]), row - int(e["y"][k])
          square = max(abs(dx), abs(dy)) <= 5
          if (square if e["shape"][k] == 0 else math.hypot(dx, dy) < 5.5):
            want[row, col] = clevr.RGB[k]
    np.testing.assert_array_equal(image, want)
    for k in range(6):  # no other object reaches a centre
      np.testing.assert_array_equal(image[e["y"][k], e["x"][k]], clevr.RGB[k])


def test_generation_is_a_pure_function_of_seed_split_and_index():
  a, b = clevr.example(0, 0, 5), clevr.example(0, 0, 5)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.array_equal(clevr.example(0, 0, 5)["image"], clevr.example(1, 0, 5)["image"])
  assert not np.array_equal(clevr.example(0, 0, 5)["image"], clevr.example(0, 1, 5)["image"])


def test_the_49k_set_extends_the_training_split_and_shares_the_others():
  """``sort_of_clevr_49k`` (five times the training images, not in the paper) scores on the same
  images as ``sort_of_clevr``: its validation and test splits and its first 9,800 training
  images are the paper-sized set's."""
  big, paper = clevr.CONFIGS["sort_of_clevr_49k"], clevr.CONFIGS["sort_of_clevr"]
  assert (big.train, big.validation, big.test) == (49000, paper.validation, paper.test)
  for split, first, count in (("validation", 0, 200), ("test", 990, 10), ("train", 9790, 10)):
    a = clevr.generated("sort_of_clevr_49k", split, first, count)
    b = clevr.generated("sort_of_clevr", split, first, count)
    for field in ("images", "shape", "x", "y", "color", "answer"):
      np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  beyond = clevr.generated("sort_of_clevr_49k", "train", 9800, 5)  # new images past the paper's
  assert len(beyond) == 5 and not any(
      np.array_equal(beyond.images[i], clevr.generated("sort_of_clevr", "train", 0, 5).images[i])
      for i in range(5))
  with pytest.raises(ValueError, match="the sort_of_clevr train split has 9800 images"):
    clevr.generated("sort_of_clevr", "train", 9800, 5)


def test_question_forms():
  for (qtype, subtype) in clevr.TEMPLATES:
    for color in range(6):
      for t in range(clevr.NUM_TEMPLATES):
        q = clevr.Question(color, qtype, subtype, t)
        v = clevr.question_vector(q)
        assert v.shape == (11,) and v.sum() == 3
        assert v[color] == 1 and v[6 + qtype] == 1 and v[8 + subtype] == 1
        text = clevr.question_text(q)
        assert clevr.parse_question(text) == q
        assert clevr.parse_question(text.upper().replace(" ?", "?")) == q
        ids, n, unknown = clevr.encode(text)
        assert n == len(text.split()) and not unknown and np.all(ids[n:] == 0)
        assert [clevr.VOCAB[k] for k in ids[:n]] == text.split()
  ids, n, unknown = clevr.encode("what colour is the red zebra?")
  assert unknown == ["colour", "zebra"] and n == 7 and ids[1] == ids[5] == 1
  with pytest.raises(ValueError, match="'what colour is it' is not a question the vector form"):
    clevr.parse_question("what colour is it")
  with pytest.raises(ValueError, match="the question is empty"):
    clevr.encode("  ")
  with pytest.raises(ValueError, match="at most 14 fit"):
    clevr.encode("the " * 15)


@pytest.fixture(scope="module")
def tiny_builder(tmp_path_factory):
  return registry.prepare("sort_of_clevr_tiny", kind=registry.VQA,
                          data_dir=str(tmp_path_factory.mktemp("tfds_clevr")))


def test_the_prepared_copy_holds_the_generated_images(tiny_builder):
  sizes = clevr.CONFIGS["sort_of_clevr_tiny"]
  for split, split_id in clevr.SPLIT_IDS.items():
    data = clevr.load(tiny_builder, split)
    assert len(data) == getattr(sizes, split)
    for i in (0, len(data) - 1):
      e = clevr.example(sizes.seed, split_id, i)
      np.testing.assert_array_equal(data.images[i], e["image"])
      np.testing.assert_array_equal(data.answer[i], e["answer"])
      np.testing.assert_array_equal(data.template[i], e["template"])
  arrays = clevr.question_arrays(clevr.load(tiny_builder, "validation"), "text")
  assert arrays["question"].shape == (16, 20, clevr.MAX_QUESTION_LENGTH)
  assert arrays["kind"].shape == (16, 20) and set(arrays["kind"][:, 10:].ravel()) <= {3, 4, 5}


class _Tampered:
  """A builder whose stored example 3 has one answer (or one pixel) changed."""

  def __init__(self, builder, key):
    self.builder, self.data_dir, self.key = builder, builder.data_dir, key

  def as_data_source(self, split):
    es = [dict(e) for e in self.builder.as_data_source(split=split)]
    value = np.array(es[3][self.key])
    if self.key == "answer":
      value[12] = (value[12] + 1) % 12
    else:
      value[0, 0] = 255 - value[0, 0]
    es[3][self.key] = value
    return es


def test_stored_answers_or_pixels_that_disagree_with_the_objects_are_refused(tiny_builder):
  with pytest.raises(ValueError, match="validation split .* image 3 question 12 has answer"):
    clevr.load(_Tampered(tiny_builder, "answer"), "validation")
  with pytest.raises(ValueError, match="image 3 is not the drawing of its stored objects"):
    clevr.load(_Tampered(tiny_builder, "image"), "validation")
