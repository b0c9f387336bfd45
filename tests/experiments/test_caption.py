"""The captioning experiment end to end: batches that visit every caption once, exact resume,
decoding scores that do not depend on the evaluation batch, the report's captions and attention
strips, the Flickr8k config on a generated Flickr8k-format set, the caption CLI, and one-line
errors for bad data and flags."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.caption import task as caption_task
from experiments.caption.configs import flickr8k_attend_tell, tiny
from seqjax.data import captions
from seqjax.train.trainer import train_and_evaluate
from seqjax.train.writer import read_metrics
from tests.conftest import REPO, assert_one_line_error
from tests.data.test_captions import write_flickr8k
from tests.experiments import harness


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds_caption"))


def config(data_dir, kind="attend_tell", beam_size=2, **train):
  c = tiny.get_config()
  c.data.data_dir = data_dir
  c.model.kind = kind
  c.decode.beam_size = beam_size
  c.train.log_every = 1
  c.train.update(train)
  return c


def test_an_epoch_reads_every_caption_once_and_batches_are_reproducible():
  images = np.arange(3 * 4 * 4 * 3, dtype=np.uint8).reshape(3, 4, 4, 3)
  image_index = np.array([0, 0, 1, 1, 1, 2, 2], np.int32)
  targets = np.stack([np.array([10 + p, caption_task.EOS_ID, 0], np.int32) for p in range(7)])
  b = caption_task.PairBatches(images, image_index, targets, 3, shuffle=True, seed=1)
  assert b.num_batches(0) == 3
  seen = []
  for k in range(3):
    batch = b.batch(0, k)
    for r in range(3):
      if batch["weights"][r] == 0:
        continue
      p = int(batch["targets"][r, 0]) - 10
      seen.append(p)
      np.testing.assert_array_equal(batch["images"][r], images[image_index[p]])
      assert batch["tokens_in"][r].tolist() == [caption_task.BOS_ID, 10 + p,
                                                caption_task.EOS_ID]
  assert sorted(seen) == list(range(7))
  assert b.batch(0, 2)["weights"].tolist() == [1.0, 0.0, 0.0]
  again = caption_task.PairBatches(images, image_index, targets, 3, shuffle=True, seed=1)
  np.testing.assert_array_equal(again.batch(0, 1)["targets"], b.batch(0, 1)["targets"])
  assert not np.array_equal(b.batch(1, 0)["targets"], b.batch(0, 0)["targets"])


@pytest.mark.slow  # 2-3 min: three trainings of the captioner (the trainer's resume is tested on
#                   the toy task in the default suite; the Flickr8k test below trains end to end)
def test_resume_is_exact_and_the_report_is_written(data_dir, tmp_path):
  # Greedy decoding only (the Flickr8k test below decodes with beams too).
  c = config(data_dir, beam_size=1)
  straight = train_and_evaluate(caption_task.TASK, c, str(tmp_path / "a"), log=lambda _: None)
  train_and_evaluate(caption_task.TASK, config(data_dir, beam_size=1, num_steps=10),
                     str(tmp_path / "b"), log=lambda _: None)
  resumed = train_and_evaluate(caption_task.TASK, c, str(tmp_path / "b"), log=lambda _: None)
  losses = lambda w: {x["step"]: x["loss"] for x in read_metrics(str(w)) if x["split"] == "train"}
  a = losses(tmp_path / "a")
  assert losses(tmp_path / "b") == a and len(a) == 20
  assert np.mean([a[s] for s in range(16, 21)]) < 0.95 * np.mean([a[s] for s in range(1, 6)])
  timeless = lambda r: {k: v for k, v in r.items() if not k.startswith("seconds_")}
  for split in ("validation", "test"):
    assert timeless(resumed[split]) == timeless(straight[split])
  test = straight["test"]
  for key in ("bleu1", "bleu4", "cider", "relation_correct", "object_precision"):
    assert 0.0 <= test[f"{key}_greedy"] <= (100.0 if "bleu" in key else 10.0), key
  assert not any(k.endswith("_beam2") for k in test)
  assert 0.0 <= test["attention_on_object"] <= 1.0
  lines = (tmp_path / "a" / "captions" / "test.greedy.jsonl").read_text().splitlines()
  rows = [json.loads(x) for x in lines]
  assert len(rows) == 16 and rows[3]["image"] == "scene_2_3.png"
  assert rows[3]["references"] == captions.scene_example(0, 2, 3)["captions"].split("\n")
  for name in ("captions.png", "attention_test_0.png", "attention_test_1.png"):
    assert (tmp_path / "a" / name).stat().st_size > 10_000


def test_decoding_scores_do_not_depend_on_the_evaluation_batch_size(data_dir):
  c = config(data_dir, "show_tell")
  data, model, state = harness.build(caption_task.TASK, c)
  a = harness.evaluate(caption_task.TASK, c, data, model, state.params, "validation")
  c.train.eval_batch_size = 5  # 16 images, 80 captions: batches with filler rows
  data, _, _ = harness.build(caption_task.TASK, c)
  b = harness.evaluate(caption_task.TASK, c, data, model, state.params, "validation")
  assert a.keys() == b.keys() and "cider" in a and "relation_correct" in a
  for k in a:
    assert a[k] == pytest.approx(b[k], rel=1e-6), k


class _PeakedAttention:
  """A stand-in model whose attention at every step peaks on one region of the 8x8 map."""

  def __init__(self, region):
    self.region = region

  def apply(self, variables, images, tokens):
    alphas = np.full(tokens.shape + (64,), 0.1 / 63, np.float32)
    alphas[..., self.region] = 0.9
    return None, alphas, None


def test_attention_on_objects_finds_the_region_of_the_named_object():
  s = captions.Scene(color=np.array([0, 2]), shape=np.array([1, 0]), x=np.array([10, 50]),
                     y=np.array([12, 40]))
  split = captions.CaptionSplit(np.zeros((1, 64, 64, 3), np.uint8), [[["a"]]], ["x"], [s])
  vocab = caption_task.Vocabulary(list(caption_task.SPECIALS) + "a red circle above blue square"
                                  .split())
  hyp = [["a", "red", "circle", "above", "a", "blue", "square"]]
  # Region (1, 1) of the 8x8 map has its centre at pixel (12, 12): nearest the red circle.
  near_red = caption_task.attention_on_objects(_PeakedAttention(9), None, split, hyp, vocab, 4)
  assert near_red == {"attention_on_object": 0.5, "attention_on_object_first": 1.0,
                      "attention_on_object_second": 0.0}
  near_blue = caption_task.attention_on_objects(_PeakedAttention(5 * 8 + 6), None, split, hyp,
                                                vocab, 4)
  assert near_blue["attention_on_object_second"] == 1.0
  assert near_blue["attention_on_object_first"] == 0.0


def flickr_config(data_dir, manual_dir):
  c = flickr8k_attend_tell.get_config()
  c.data.data_dir, c.data.manual_dir, c.data.min_count = data_dir, manual_dir, 1
  c.model.channels, c.model.embed_size, c.model.rnn.hidden_size = (4, 4, 4, 4), 8, 8
  c.train.update(num_steps=4, batch_size=4, eval_batch_size=4, log_every=2, eval_every=4,
                 checkpoint_every=4, patience=0)
  c.decode.beam_size, c.decode.figures = 2, 1
  c.parallel.data = 1
  return c


def test_the_flickr8k_config_runs_end_to_end_on_files_in_its_format(tmp_path):
  manual = write_flickr8k(str(tmp_path / "flickr8k"))
  c = flickr_config(str(tmp_path / "tfds"), manual)
  result = train_and_evaluate(caption_task.TASK, c, str(tmp_path / "run"), log=lambda _: None)
  assert result["test"]["words"] == 5 * 7  # one test image, five captions of 6 words + <eos>
  rows = [json.loads(x) for x in
          (tmp_path / "run" / "captions" / "test.beam2.jsonl").read_text().splitlines()]
  assert [r["image"] for r in rows] == ["1003_d.jpg"]
  assert rows[0]["references"][0] == "a scene number 3 caption 0"
  assert (tmp_path / "run" / "attention_test_0.png").exists()


def test_attending_from_the_current_state_trains_and_decodes_end_to_end(data_dir, tmp_path):
  c = config(data_dir, num_steps=4, eval_every=4, checkpoint_every=4)
  c.model.attend_from = "current"
  c.decode.figures = 1
  lines = []
  result = train_and_evaluate(caption_task.TASK, c, str(tmp_path / "run"), log=lines.append)
  assert any("Show, Attend and Tell (attending from h_t)" in x for x in lines), lines[:5]
  test = result["test"]
  assert 0.0 <= test["attention_on_object"] <= 1.0 and "cider_beam2" in test
  assert (tmp_path / "run" / "attention_test_0.png").stat().st_size > 10_000
  saved = json.loads((tmp_path / "run" / "config.json").read_text())
  assert saved["model"]["attend_from"] == "current"


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("caption_cli") / "sat"
  train_and_evaluate(caption_task.TASK, config(data_dir, num_steps=4, eval_every=4,
                                               checkpoint_every=4, test_at_end=False),
                     str(workdir), log=lambda _: None)
  return str(workdir)


def cli(*args):
  return subprocess.run([sys.executable, "-m", "experiments.caption.caption", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # ~1 min: a training and three CLI processes
def test_caption_cli(trained, tmp_path):
  out = cli(f"--save_scene={tmp_path}/scene.png", "--split=test", "--index=2")
  assert out.returncode == 0, out.stderr
  assert out.stdout.splitlines()[1:] == captions.scene_example(0, 2, 2)["captions"].split("\n")
  from PIL import Image
  Image.open(f"{tmp_path}/scene.png").resize((200, 150)).save(f"{tmp_path}/photo.jpg")
  out = cli(f"--workdir={trained}", f"--image={tmp_path}/scene.png",
            f"--image={tmp_path}/photo.jpg", f"--out_dir={tmp_path}/maps", "--beam_size=2")
  assert out.returncode == 0, out.stderr
  lines = out.stdout.splitlines()
  assert [x.split("\t")[1] for x in lines[:2]] == [f"{tmp_path}/scene.png",
                                                   f"{tmp_path}/photo.jpg"]
  known = {w for i in range(64) for w in captions.scene_example(0, 0, i)["captions"].split()}
  for line in lines[:2]:  # words of the training captions (or <unk>), at most 20 of them
    words = line.split("\t")[0].split()
    assert 1 <= len(words) <= 20 and set(words) <= known | {"<unk>"}, line
  assert os.path.getsize(f"{tmp_path}/maps/photo.jpg.attention.png") > 5_000
  (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
  assert_one_line_error("experiments.caption.caption",
                        [f"--workdir={trained}", f"--image={tmp_path}/bad.png"],
                        "bad.png: not a readable image")


def test_bad_data_and_flags_are_one_line_errors(data_dir, tmp_path):
  main = "experiments.caption.main"
  tiny_cfg = "--config=experiments/caption/configs/tiny.py"
  assert_one_line_error(main, [tiny_cfg, f"--workdir={tmp_path}/w",
                               f"--config.data.manual_dir={tmp_path}"],
                        "data.manual_dir: scene_captions_tiny is generated")
  manual = write_flickr8k(str(tmp_path / "flickr8k"))
  with open(os.path.join(manual, "Flickr8k.token.txt"), "a") as f:
    f.write("1003_d.jpg#5 a caption without its tab\n")
  assert_one_line_error(main, ["--config=experiments/caption/configs/flickr8k_attend_tell.py",
                               f"--workdir={tmp_path}/w", f"--config.data.data_dir={data_dir}",
                               f"--config.data.manual_dir={manual}"],
                        "Flickr8k.token.txt:21: expected '<image file>#<number><TAB><caption>'")
