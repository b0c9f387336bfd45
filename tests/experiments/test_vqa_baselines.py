"""The untrained answerers of ``experiments.vqa.baselines``: the colour-blind oracle checked on a
hand-made scene and, by brute force over every answer, on generated ones; the pixel answerer
against the drawn objects; the scores' sums; the CLI's output, JSON file and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from experiments.vqa import baselines
from seqjax.data import clevr
from tests.conftest import REPO, assert_one_line_error


def test_colour_blind_answers_of_a_hand_made_scene():
  # colours: red green blue orange gray yellow; four squares, two circles; four objects in the
  # left half; three in the top half (a tie, which goes to "top", listed first).
  scene = clevr.Scene(shape=np.array([0, 0, 0, 0, 1, 1]), x=np.array([10, 20, 30, 60, 12, 65]),
                      y=np.array([10, 30, 50, 12, 66, 45]))
  got = [clevr.ANSWERS[a] for a in baselines.colour_blind_answers(scene)]
  assert got[:3] == ["square", "left", "top"]
  assert got[5] == "4"  # four of six colours ask about a square, and four objects are squares
  table = baselines.all_answers(scene)
  assert [clevr.ANSWERS[a] for a in table[4]][:3] == ["circle", "left", "bottom"]  # gray
  assert [clevr.ANSWERS[a] for a in table[:, 5]] == ["4", "4", "4", "4", "2", "2"]


def test_colour_blind_answer_is_right_for_the_most_colours():
  data = clevr.generated("sort_of_clevr_tiny", "train", 0, 40)
  for i in range(len(data)):
    scene = data.scene(i)
    blind = baselines.colour_blind_answers(scene)
    for k in range(baselines.NUM_SUBTYPES):
      qtype, sub = divmod(k, 3)
      truth = [clevr.answer(scene, clevr.Question(c, qtype, sub, 0)) for c in range(6)]
      hits = [sum(t == a for t in truth) for a in range(len(clevr.ANSWERS))]
      assert hits[blind[k]] == max(hits), (i, k)
      assert blind[k] == hits.index(max(hits))  # ties: the first answer


def test_scores_add_up_and_the_oracle_beats_the_majority():
  data = clevr.generated("sort_of_clevr_tiny", "test")
  train = clevr.generated("sort_of_clevr_tiny", "train")
  majority = baselines.majority_answers(train)
  assert [clevr.ANSWERS[a] for a in majority][:3] in (
      [s, h, v] for s in ("square", "circle") for h in ("left", "right")
      for v in ("top", "bottom"))
  s_major = baselines.score(data, lambda i: majority)
  s_blind = baselines.score(data, lambda i: baselines.colour_blind_answers(data.scene(i)))
  assert s_blind["accuracy"] > s_major["accuracy"] + 0.1
  counts = np.bincount((data.qtype * 3 + data.subtype).ravel(), minlength=6)
  for s in (s_major, s_blind):
    per = np.array([s["acc_" + n.split("/")[1]] for n in clevr.SUBTYPE_NAMES])
    assert np.isclose(per @ counts / counts.sum(), s["accuracy"])
    assert np.isclose(per[:3] @ counts[:3] / counts[:3].sum(), s["non_relational"])


def test_vector_question_inverts_the_11_bits():
  for c in range(6):
    for t in (clevr.NONREL, clevr.REL):
      for sub in range(3):
        q = clevr.Question(c, t, sub)
        assert clevr.vector_question(clevr.question_vector(q)) == q
  bad = clevr.question_vector(clevr.Question(2, 1, 0))
  bad[3] = 1.0  # two colours
  with pytest.raises(ValueError, match="not a Sort-of-CLEVR question vector"):
    clevr.vector_question(bad)
  with pytest.raises(ValueError, match="11 values"):
    clevr.vector_question(np.zeros(10))


def test_pixel_answerer_finds_the_objects_of_drawn_scenes():
  data = clevr.generated("sort_of_clevr_tiny", "train", 0, 30)
  for i in range(len(data)):
    centres, shapes = baselines.pixel_objects(data.images[i])
    scene = data.scene(i)
    hidden = np.abs(centres - np.stack([scene.x, scene.y], 1)).max(1) > 0
    # An object can hide part of another; otherwise the pixels give centre and shape exactly.
    assert hidden.sum() <= 2, i
    np.testing.assert_array_equal(shapes[~hidden], scene.shape[~hidden])
  scores = baselines.pixel_scores(clevr.generated("sort_of_clevr_tiny", "test"))
  assert scores["accuracy"] >= 0.99 and scores["relational"] >= 0.98
  blank = np.full((75, 75, 3), 255, np.uint8)
  with pytest.raises(ValueError, match="no red pixel"):
    baselines.pixel_objects(blank)


def test_cli_prints_and_writes_every_baseline(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "experiments.vqa.baselines",
                         "--dataset=sort_of_clevr_tiny", "--split=validation",
                         f"--json={tmp_path}/b.json"], cwd=REPO, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.strip().splitlines()
  assert lines[0].startswith("sort_of_clevr_tiny validation: accuracy non_relational")
  assert [line.split()[0] for line in lines[1:4]] == ["majority", "colour_blind", "pixels"]
  assert float(lines[3].split()[1]) >= 99.0
  saved = json.loads((tmp_path / "b.json").read_text())
  assert saved["split"] == "validation"
  assert f"{100 * saved['colour_blind']['accuracy']:.1f}" == lines[2].split()[1]


def test_importing_the_functions_defines_no_flag():
  from absl import flags  # pylint: disable=g-import-not-at-top
  for name in ("dataset", "split", "json"):  # other modules of the suite may define these
    assert name not in flags.FLAGS or flags.FLAGS.find_module_defining_flag(name) != \
        baselines.__name__, name


def test_cli_errors_are_one_line(tmp_path):
  assert_one_line_error("experiments.vqa.baselines", ["--split=dev"], "--split")
  assert_one_line_error("experiments.vqa.baselines",
                        ["--dataset=sort_of_clevr_tiny", f"--json={tmp_path}/no/such/b.json"],
                        "no/such")


def test_generated_images_are_the_generator_s_and_a_bad_range_is_named():
  data = clevr.generated("sort_of_clevr_tiny", "test", 14)
  assert len(data) == 2
  e = clevr.example(clevr.CONFIGS["sort_of_clevr_tiny"].seed, clevr.SPLIT_IDS["test"], 15)
  np.testing.assert_array_equal(data.images[1], e["image"])
  np.testing.assert_array_equal(data.answer[1], e["answer"])
  with pytest.raises(ValueError, match=r"images 10\.\.19: the sort_of_clevr_tiny test split has "
                                       r"16 images"):
    clevr.generated("sort_of_clevr_tiny", "test", 10, 10)
