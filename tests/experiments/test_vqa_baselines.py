"""The untrained answerers of ``experiments.vqa.baselines``: the colour-blind oracle checked on a
hand-made scene and, by brute force over every answer, on generated ones; the scores' sums; the
CLI's output, JSON file and one-line errors."""

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


def test_cli_prints_and_writes_both_baselines(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "experiments.vqa.baselines",
                         "--dataset=sort_of_clevr_tiny", "--split=validation",
                         f"--json={tmp_path}/b.json"], cwd=REPO, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.strip().splitlines()
  assert lines[0].startswith("sort_of_clevr_tiny validation: accuracy non_relational")
  assert lines[1].split()[0] == "majority" and lines[2].split()[0] == "colour_blind"
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
