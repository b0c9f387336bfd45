"""The Sort-of-CLEVR experiment end to end on the tiny generated set: batches that visit every
question once, models that learn, exact resume, the report's figures, the predict and view
CLIs, and one-line errors."""

import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments.vqa import baselines
from experiments.vqa import margins
from experiments.vqa import task as vqa
from experiments.vqa.configs import tiny
from seqjax.data import clevr
from seqjax.train.trainer import restore, train_and_evaluate
from seqjax.train.writer import read_metrics
from tests.conftest import REPO, assert_one_line_error
from tests.experiments import harness


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds_vqa"))


def config(data_dir, kind="rn", question="vector", **train):
  c = tiny.get_config()
  c.data.data_dir = data_dir
  c.model.kind, c.model.question = kind, question
  c.train.log_every = 1
  c.train.update(train)
  return c


def test_an_epoch_asks_every_question_once_and_batches_are_reproducible():
  arrays = {"answer": np.arange(60).reshape(3, 20), "kind": np.zeros((3, 20), np.int32)}
  images = np.arange(3 * 75 * 75 * 3, dtype=np.uint32).reshape(3, 75, 75, 3).astype(np.uint8)
  b = vqa.QuestionBatches(arrays, images, 4, 5, shuffle=True, seed=1)
  assert b.num_batches(0) == 3  # 12 rows of 5 questions, 4 rows a batch
  seen = []
  for k in range(3):
    batch = b.batch(0, k)
    assert batch["answer"].shape == (4, 5) and batch["images"].shape == (4, 75, 75, 3)
    for r in range(4):
      image = int(batch["answer"][r, 0]) // 20
      assert np.all(batch["answer"][r] // 20 == image)  # a row's questions are its image's
      np.testing.assert_array_equal(batch["images"][r], images[image])
      seen += list(batch["answer"][r])
  assert sorted(seen) == list(range(60))
  again = vqa.QuestionBatches(arrays, images, 4, 5, shuffle=True, seed=1)
  np.testing.assert_array_equal(again.batch(0, 1)["answer"], b.batch(0, 1)["answer"])
  assert not np.array_equal(b.batch(1, 0)["answer"], b.batch(0, 0)["answer"])
  ordered = vqa.QuestionBatches(arrays, images, 2, 20, shuffle=False)
  last = ordered.batch(0, 1)
  np.testing.assert_array_equal(last["answer"][0], np.arange(40, 60))
  assert last["weights"].tolist() == [1.0, 0.0]  # the filler row counts for nothing
  with pytest.raises(ValueError, match="must divide the 20 questions"):
    vqa.QuestionBatches(arrays, images, 4, 3, shuffle=True)


def train_accuracy(workdir, c):
  """Accuracy of the last state on every question of the training images."""
  run = restore(vqa.TASK, workdir, "last")
  data = vqa.TASK.data(c, None).extra["splits"]["train"]
  preds, _ = vqa.predict_images(run.model, run.params, data, list(range(len(data))),
                                c.model.question)
  return np.mean([preds[(i, j)] == data.answer[i, j] for i, j in preds])


@pytest.mark.parametrize("kind,norm", [("cnn_mlp", "none"), ("rn", "none"),
                                       ("cnn_mlp", "batch")])
def test_each_model_learns_a_tiny_set(data_dir, tmp_path, kind, norm):
  c = config(data_dir, kind, num_steps=150, eval_every=150, checkpoint_every=150,
             test_at_end=False)
  c.model.norm = norm
  c.data.train_images, c.train.batch_size, c.train.questions_per_image = 8, 8, 10
  c.model.dropout_rate = 0.0
  train_and_evaluate(vqa.TASK, c, str(tmp_path), log=lambda _: None)
  m = [x for x in read_metrics(str(tmp_path)) if x["split"] == "train"]
  assert np.mean([x["loss"] for x in m[-10:]]) < 0.5 * np.mean([x["loss"] for x in m[:10]])
  # 160 questions whose most common answer covers a quarter of them: fitted, not guessed.
  assert train_accuracy(str(tmp_path), c) > 0.8


def test_resume_is_exact_and_the_report_is_written(data_dir, tmp_path):
  c = config(data_dir, "san")
  straight = train_and_evaluate(vqa.TASK, c, str(tmp_path / "a"), log=lambda _: None)
  train_and_evaluate(vqa.TASK, config(data_dir, "san", num_steps=12), str(tmp_path / "b"),
                     log=lambda _: None)
  resumed = train_and_evaluate(vqa.TASK, c, str(tmp_path / "b"), log=lambda _: None)
  losses = lambda w: {x["step"]: x["loss"] for x in read_metrics(str(w)) if x["split"] == "train"}
  assert losses(tmp_path / "b") == losses(tmp_path / "a") and len(losses(tmp_path / "a")) == 20
  for split in ("validation", "test"):
    assert resumed[split] == straight[split]
  test = straight["test"]
  assert test["questions"] == 16 * 20
  parts = [test[vqa.metric_name(k)] for k in range(6)]
  assert all(0.0 <= p <= 1.0 for p in parts)
  assert (tmp_path / "a" / "predictions.png").stat().st_size > 10_000
  assert (tmp_path / "a" / "attention.png").stat().st_size > 10_000


def test_batch_norm_state_resumes_exactly_and_evaluation_uses_it(data_dir, tmp_path):
  def bn(**train):
    c = config(data_dir, "cnn_mlp", **train)
    c.model.norm = "batch"
    return c
  straight = train_and_evaluate(vqa.TASK, bn(), str(tmp_path / "a"), log=lambda _: None)
  train_and_evaluate(vqa.TASK, bn(num_steps=12), str(tmp_path / "b"), log=lambda _: None)
  resumed = train_and_evaluate(vqa.TASK, bn(), str(tmp_path / "b"), log=lambda _: None)
  losses = lambda w: {x["step"]: x["loss"] for x in read_metrics(str(w)) if x["split"] == "train"}
  assert losses(tmp_path / "b") == losses(tmp_path / "a") and len(losses(tmp_path / "a")) == 20
  for split in ("validation", "test"):
    assert resumed[split] == straight[split]
  a, b = restore(vqa.TASK, str(tmp_path / "a"), "last"), restore(vqa.TASK, str(tmp_path / "b"),
                                                                 "last")
  stats = a.params["batch_stats"]["encoder"]
  assert set(stats) == {f"norm_{k}" for k in range(4)}
  assert np.all(np.asarray(stats["norm_0"]["mean"]) != 0.0)  # moved from their start
  jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
  # Evaluation reads the running statistics (fresh ones score otherwise), and scores do not
  # depend on how the split is batched.
  c = bn()
  data, model, fresh = harness.build(vqa.TASK, c)
  scores = harness.evaluate(vqa.TASK, c, data, model, a.params, "validation")
  reset = {"params": a.params["params"], **fresh.model_state}
  assert harness.evaluate(vqa.TASK, c, data, model, reset, "validation") != scores
  c.train.eval_batch_size = 3
  data, _, _ = harness.build(vqa.TASK, c)
  again = harness.evaluate(vqa.TASK, c, data, model, a.params, "validation")
  for k in scores:
    assert again[k] == pytest.approx(scores[k], rel=1e-6), k


@pytest.mark.parametrize("first,then", [("none", "batch"), ("batch", "none")])
def test_a_workdir_is_not_resumed_with_or_without_batch_norm_it_lacks(data_dir, tmp_path,
                                                                      first, then):
  """Switching the encoder's normalisation on resume is refused naming the key, and even with
  --allow_config_change the checkpoint is refused naming an array it lacks or has in excess
  (never trained on with fresh or dropped running statistics)."""
  from seqjax.train.task import InputError  # pylint: disable=g-import-not-at-top
  c = config(data_dir, "cnn_mlp", num_steps=4, checkpoint_every=4, eval_every=4,
             test_at_end=False)
  c.model.norm = first
  train_and_evaluate(vqa.TASK, c, str(tmp_path), log=lambda _: None)
  c.model.norm, c.train.num_steps = then, 6
  with pytest.raises(InputError, match=f"trained with model.norm='{first}', the config now "
                                       f"says '{then}'"):
    train_and_evaluate(vqa.TASK, c, str(tmp_path), log=lambda _: None)
  where = "in this config's model but not in the checkpoint" if then == "batch" else \
      "in the checkpoint but not in this config's model"
  with pytest.raises(InputError, match=f"params/encoder/norm_0/bias is {where}"):
    train_and_evaluate(vqa.TASK, c, str(tmp_path), log=lambda _: None, allow_config_change=True)


def test_batch_norm_over_two_devices_is_the_one_device_run(data_dir, tmp_path):
  """Data parallel, the batch's statistics are still the whole batch's (not each device's)."""
  runs = {}
  for devices in (1, 2):
    c = config(data_dir, "cnn_mlp", num_steps=6, eval_every=6, checkpoint_every=6,
               test_at_end=False)
    c.model.norm, c.parallel.data = "batch", devices
    train_and_evaluate(vqa.TASK, c, str(tmp_path / str(devices)), log=lambda _: None)
    runs[devices] = ([x["loss"] for x in read_metrics(str(tmp_path / str(devices)))
                      if x["split"] == "train"],
                     restore(vqa.TASK, str(tmp_path / str(devices)), "last").params)
  np.testing.assert_allclose(runs[2][0], runs[1][0], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               runs[2][1]["batch_stats"], runs[1][1]["batch_stats"])


def test_the_trainer_s_batches_can_be_answered_from_their_pixels(data_dir):
  """What a model is given is enough: the pixel answerer (objects found by colour) reads every
  training batch's images and 11-bit questions and gets nearly every answer; with each row's
  image swapped for another row's it falls below half (the answers are the image's own)."""
  data = vqa.TASK.data(config(data_dir, "cnn_mlp"), None)
  right = total = swapped = 0
  for k in range(data.train.num_batches(0)):
    batch = data.train.batch(0, k)
    real = batch["weights"] > 0
    images, questions, answers = (batch[n][real] for n in ("images", "question", "answer"))
    for r in range(len(images)):
      ours = baselines.pixel_objects(images[r])
      other = baselines.pixel_objects(images[(r + 1) % len(images)])
      for j in range(answers.shape[1]):
        q = clevr.vector_question(questions[r, j])
        right += baselines.pixel_answer(ours, q) == answers[r, j]
        swapped += baselines.pixel_answer(other, q) == answers[r, j]
        total += 1
  assert total == 64 * 20  # every training question once
  assert right / total >= 0.99
  assert swapped / total < 0.6  # 44.8% measured


def test_scores_do_not_depend_on_the_evaluation_batch_size(data_dir):
  c = config(data_dir, "rn", question="text")
  data, model, state = harness.build(vqa.TASK, c)
  a = harness.evaluate(vqa.TASK, c, data, model, state.params, "validation")
  c.train.eval_batch_size = 3  # 16 images: five full batches and one with a filler row
  data, _, _ = harness.build(vqa.TASK, c)
  b = harness.evaluate(vqa.TASK, c, data, model, state.params, "validation")
  assert a.keys() == b.keys()
  for k in a:
    assert a[k] == pytest.approx(b[k], rel=1e-6), k
  # The subtypes' accuracies weighted by their question counts give the overall accuracy.
  data_v = data.extra["splits"]["validation"]
  counts = np.bincount(clevr.question_arrays(data_v, "vector")["kind"].ravel(), minlength=6)
  overall = sum(a[vqa.metric_name(k)] * counts[k] for k in range(6)) / counts.sum()
  assert overall == pytest.approx(a["accuracy"])


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
  out = {}
  for kind, question in (("san", "vector"), ("rn", "text")):
    workdir = tmp_path_factory.mktemp("vqa_cli") / f"{kind}_{question}"
    train_and_evaluate(vqa.TASK, config(data_dir, kind, question, num_steps=4, eval_every=4,
                                        checkpoint_every=4, test_at_end=False),
                       str(workdir), log=lambda _: None)
    out[kind] = str(workdir)
  return out


def cli(module, *args):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=300)


def test_view_and_predict_cli(trained, tmp_path):
  out = cli("experiments.vqa.view", f"--out={tmp_path}/grid.png", "--images=3",
            f"--save_image={tmp_path}/scene.png", "--split=test", "--index=2")
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert len(lines) == 22 and (tmp_path / "grid.png").stat().st_size > 10_000
  e = clevr.example(0, clevr.SPLIT_IDS["test"], 2)
  assert lines[0].split("\t")[0] == clevr.ANSWERS[e["answer"][0]]
  questions = ["what is the shape of the object closest to the red object ?",
               "is the BLUE object on the left or on the right?"]
  out = cli("experiments.vqa.predict", f"--workdir={trained['san']}",
            f"--image={tmp_path}/scene.png", f"--attention_png={tmp_path}/att.png", *questions)
  assert out.returncode == 0, out.stderr
  rows = [line.split("\t") for line in out.stdout.strip().splitlines()[:2]]
  assert [r[3] for r in rows] == questions and all(r[0] in clevr.ANSWERS for r in rows)
  assert (tmp_path / "att.png").stat().st_size > 5_000
  # The text model reads any words and names the ones it never saw.
  out = cli("experiments.vqa.predict", f"--workdir={trained['rn']}",
            f"--image={tmp_path}/scene.png", "what colour is the red zebra ?")
  assert out.returncode == 0, out.stderr
  assert "words the model never saw (read as <unk>): colour zebra" in out.stderr


def test_predict_cli_errors(trained, tmp_path):
  import matplotlib.image  # pylint: disable=g-import-not-at-top
  matplotlib.image.imsave(tmp_path / "big.png", np.zeros((80, 75, 3), np.uint8))
  (tmp_path / "bad.png").write_bytes(b"not a png")
  matplotlib.image.imsave(tmp_path / "ok.png", clevr.example(0, 0, 0)["image"])
  w = f"--workdir={trained['san']}"
  assert_one_line_error("experiments.vqa.predict", [w, f"--image={tmp_path}/big.png", "q ?"],
                        "the models read 75x75 RGB images; this one is 75x80")
  assert_one_line_error("experiments.vqa.predict", [w, f"--image={tmp_path}/bad.png", "q ?"],
                        "not a readable PNG")
  assert_one_line_error("experiments.vqa.predict", [w, f"--image={tmp_path}/ok.png",
                                                    "what colour is it ?"],
                        "question 1: 'what colour is it ?' is not a question the vector form")
  assert_one_line_error("experiments.vqa.predict", [f"--workdir={trained['rn']}",
                                                    f"--image={tmp_path}/ok.png", "red ?",
                                                    f"--attention_png={tmp_path}/a.png"],
                        "is a 'rn' model, which has no attention maps")
  assert_one_line_error("experiments.vqa.predict", [f"--workdir={tmp_path}/none",
                                                    f"--image={tmp_path}/ok.png", "red ?"],
                        "none")
  assert_one_line_error("experiments.vqa.predict", [w, f"--image={tmp_path}/ok.png", "red ?",
                                                    "--top=0"], "--top must be >= 1; got 0")
  assert_one_line_error("experiments.vqa.view", ["--out=x.png", "--index=990", "--images=20",
                                                 "--split=validation"],
                        "the sort_of_clevr validation split has 200 images")


@pytest.mark.parametrize("override,message", [
    ("--config.train.questions_per_image=3", "train.questions_per_image must be one of"),
    ("--config.model.kind=mlp", "model.kind must be one of ['rn', 'cnn_mlp', 'san']"),
    ("--config.data.name=clevr", "data.name must be one of"),
    ("--config.model.rnn.bidirectional=True", "model.rnn.bidirectional must be False"),
])
def test_bad_config_is_one_line(tmp_path, override, message):
  args = ["--config=experiments/vqa/configs/tiny.py", f"--workdir={tmp_path}", override]
  if "bidirectional" in override:
    args.append("--config.model.question=text")
  assert_one_line_error("experiments.vqa.main", args, message)


def test_too_many_training_images_is_one_line(data_dir, tmp_path):
  assert_one_line_error("experiments.vqa.main",
                        ["--config=experiments/vqa/configs/tiny.py", f"--workdir={tmp_path}",
                         f"--config.data.data_dir={data_dir}", "--config.data.train_images=65"],
                        "data.train_images=65: sort_of_clevr_tiny has 64 training images")


def one_scene_images(xy, shape):
  """``clevr.Images`` of one blank image with objects at ``xy`` and its 20 questions: the six
  subtypes about colours 0, 1 and 2, two about colour 3, answered by ``clevr.answer``."""
  scene = clevr.Scene(shape=np.asarray(shape), x=np.asarray([p[0] for p in xy]),
                      y=np.asarray([p[1] for p in xy]))
  qs = [clevr.Question(j // 6, (j % 6) // 3, j % 3) for j in range(20)]
  arr = lambda f: np.asarray([[f(q) for q in qs]])
  return clevr.Images(images=np.zeros((1, 75, 75, 3), np.uint8), shape=scene.shape[None],
                      x=scene.x[None], y=scene.y[None], color=arr(lambda q: q.color),
                      qtype=arr(lambda q: q.qtype), subtype=arr(lambda q: q.subtype),
                      template=arr(lambda q: 0), answer=arr(lambda q: clevr.answer(scene, q)))


def test_margins_gap_is_the_runner_up_s_distance_minus_the_answer_s():
  # Colour 0 at (10, 10): the others at distances 10, 12, sqrt(30^2 + 30^2), 50 and 55.
  data = one_scene_images([(10, 10), (20, 10), (10, 22), (40, 40), (60, 10), (10, 65)],
                          [0, 0, 1, 1, 0, 0])
  gap, other = margins.gaps(data)
  qs = data.questions(0)
  for j, q in enumerate(qs):
    if q.qtype == clevr.NONREL or q.subtype == 2:
      assert np.isnan(gap[0, j]) and not other[0, j]
  closest0 = [j for j, q in enumerate(qs) if (q.color, q.qtype, q.subtype) == (0, 1, 0)]
  furthest1 = [j for j, q in enumerate(qs) if (q.color, q.qtype, q.subtype) == (1, 1, 1)]
  assert closest0 and furthest1
  # closest to colour 0: colour 1 (10 px, a square), runner-up colour 2 (12 px, a circle)
  assert gap[0, closest0[0]] == pytest.approx(2.0) and other[0, closest0[0]]
  # furthest from colour 1 (20, 10): colour 5 (sqrt(100 + 3025) px), runner-up colour 4
  # (40 px); both squares
  assert gap[0, furthest1[0]] == pytest.approx(np.sqrt(3125) - 40.0)
  assert not other[0, furthest1[0]]
  distance = margins.answer_distances(data)
  assert distance[0, closest0[0]] == pytest.approx(10.0)
  assert distance[0, furthest1[0]] == pytest.approx(np.sqrt(3125))
  assert np.array_equal(np.isnan(distance), np.isnan(gap))


def test_margins_table_of_the_true_and_of_the_runner_up_s_answers():
  data = clevr.generated("sort_of_clevr", "test", 0, 60)
  gap, other = margins.gaps(data)
  rows = margins.table(data, data.answer)
  assert [r["subtype"] for r in rows] == ["closest"] * 6 + ["furthest"] * 6
  for name in ("closest", "furthest"):
    mine = [r for r in rows if r["subtype"] == name]
    k = 3 + list(margins.SUBTYPES.values()).index(name)
    assert mine[-1]["questions"] == int(np.sum(data.qtype * 3 + data.subtype == k))
    assert sum(r["questions"] for r in mine[:-1]) == mine[-1]["questions"]  # bins cover gaps
    assert all(r["accuracy"] == 1.0 for r in mine if r["questions"])
  # Answering with the runner-up's shape: right exactly where it has the same shape.
  runner_up = data.answer.copy()
  runner_up[other] = 1 - data.answer[other]  # the other shape (answers 0 square, 1 circle)
  rows = margins.table(data, runner_up)
  for r in rows:
    if r["other_shape"]:
      assert r["accuracy_other_shape"] == 0.0
      assert r["accuracy"] == pytest.approx(1 - r["other_shape"] / r["questions"])
  assert sum(r["other_shape"] for r in rows if (r["lo"], r["hi"]) == (0, np.inf)) == other.sum()
  text = margins.format_table(rows).splitlines()
  assert [line.split()[:4] for line in text[1:] if line.split()[1] == ">="] == [
      ["closest", ">=", "8", str(rows[4]["questions"])],
      ["furthest", ">=", "8", str(rows[10]["questions"])]]
  with pytest.raises(ValueError, match=r"predictions have shape \(60, 19\)"):
    margins.table(data, data.answer[:, :19])


def test_margins_distance_table_of_the_true_and_of_the_runner_up_s_answers():
  data = clevr.generated("sort_of_clevr", "test", 0, 60)
  gap, other = margins.gaps(data)
  distance = margins.answer_distances(data)
  clear = other & (gap >= 4.0)
  rows = margins.distance_table(data, data.answer, clear_gap=4.0)
  per = len(margins.DISTANCE_BINS)  # the bins, then "all"
  assert [r["subtype"] for r in rows] == ["closest"] * per + ["furthest"] * per
  for name, subtype in (("closest", 0), ("furthest", 1)):
    mine = [r for r in rows if r["subtype"] == name]
    kind = (data.qtype == clevr.REL) & (data.subtype == subtype)
    assert (mine[-1]["lo"], mine[-1]["hi"]) == (0.0, np.inf)
    assert mine[-1]["questions"] == int(kind.sum())
    assert mine[-1]["clear"] == int((kind & clear).sum())
    assert sum(r["questions"] for r in mine[:-1]) == mine[-1]["questions"]  # bins cover all
    assert all(r["accuracy"] == 1.0 for r in mine if r["questions"])
    for r in mine[:-1]:
      m = kind & (distance >= r["lo"]) & (distance < r["hi"])
      assert r["questions"] == int(m.sum()) and r["clear"] == int((m & clear).sum())
  # closest answers sit near the object asked about, furthest ones far from it
  near = rows[0]
  assert near["hi"] == 15.0 and near["questions"] > 0
  assert rows[per]["questions"] == 0 and np.isnan(rows[per]["accuracy"])
  # Answering with the runner-up's shape: every clear question is wrong.
  runner_up = data.answer.copy()
  runner_up[other] = 1 - data.answer[other]
  for r in margins.distance_table(data, runner_up, clear_gap=4.0):
    if r["clear"]:
      assert r["accuracy_clear"] == 0.0
  text = margins.format_table(rows, 4.0).splitlines()
  assert "clear (gap >= 4 px, other shape): questions" in text[0]
  assert text[1].split()[:4] == ["closest", "[0,", "15)", str(near["questions"])]
  with pytest.raises(ValueError, match="--clear_gap must be >= 0; got -1"):
    margins.distance_table(data, data.answer, clear_gap=-1)


def test_margins_cli_scores_a_trained_workdir(trained, tmp_path):
  out = cli("experiments.vqa.margins", f"--workdir={trained['rn']}", "--split=test",
            f"--json={tmp_path}/m.json", "--batch_images=3")
  assert out.returncode == 0, out.stderr
  import json  # pylint: disable=g-import-not-at-top
  got = json.loads((tmp_path / "m.json").read_text(),  # strict JSON: no NaN or Infinity
                   parse_constant=lambda c: pytest.fail(f"m.json holds {c}"))
  assert got["dataset"] == "sort_of_clevr_tiny" and got["step"] == 4
  assert any(r["accuracy"] is None for r in got["by_distance"])  # an empty cell is null
  # The model's own answers, batched otherwise, give the same table.
  run = restore(vqa.TASK, trained["rn"])
  data = clevr.generated("sort_of_clevr_tiny", "test")
  want = margins.table(data, margins.model_answers(run, data, batch_images=16))
  for a, b in zip(got["rows"], want):
    assert a["questions"] == b["questions"] and a["other_shape"] == b["other_shape"]
    assert a["accuracy"] == b["accuracy"] or (np.isnan(b["accuracy"]) and a["accuracy"] is None
                                              or a["accuracy"] != a["accuracy"])
  # Its "all" rows agree with the trainer's own evaluation of the same checkpoint.
  tdata, _, _ = harness.build(vqa.TASK, run.config)
  scores = harness.evaluate(vqa.TASK, run.config, tdata, run.model, run.params, "test")
  for row in got["rows"]:
    if row["lo"] == 0 and row["hi"] is None:
      assert row["accuracy"] == pytest.approx(scores[f"acc_{row['subtype']}"], abs=1e-9)
  assert "closest and furthest questions by the gap to the runner-up" in out.stdout
  assert "the same questions by the answer object's distance" in out.stdout
  assert got["clear_gap"] == 8.0
  gap_all = {r["subtype"]: r for r in got["rows"] if r["hi"] is None and r["lo"] == 0}
  for r in got["by_distance"]:
    if r["hi"] is None and r["lo"] == 0:  # the same questions, the same answers
      assert r["questions"] == gap_all[r["subtype"]]["questions"]
      assert r["accuracy"] == gap_all[r["subtype"]]["accuracy"] or r["accuracy"] != r["accuracy"]
  assert_one_line_error("experiments.vqa.margins", [f"--workdir={trained['rn']}",
                                                    "--clear_gap=-1"],
                        "--clear_gap must be >= 0; got -1")
  assert_one_line_error("experiments.vqa.margins", [f"--workdir={trained['rn']}",
                                                    f"--json={tmp_path}/no/such/dir/m.json"],
                        f"--json={tmp_path}/no/such/dir/m.json: No such file or directory")
  assert_one_line_error("experiments.vqa.margins", [f"--workdir={tmp_path}/none"],
                        f"{tmp_path}/none")
  assert_one_line_error("experiments.vqa.margins", [f"--workdir={trained['rn']}",
                                                    "--batch_images=0"],
                        "--batch_images must be >= 1; got 0")
