"""The workdir's run record: one ``run.json`` entry per start (git commit, versions, devices),
the final scores and hyperparameters in TensorBoard, and ``curves.png``."""

import json

import pytest

from experiments.timeseries.configs import tiny
from experiments.timeseries.task import FORECAST
from seqjax.train import record
from seqjax.train.trainer import train_and_evaluate
from tests.fakes.data import ar_series, write_sunspots_like


def _quiet(_):
  pass


def event_tags(directory) -> set:
  """Every summary tag in the TensorBoard event files under ``directory`` (TFRecord framing:
  length, its CRC, an ``Event`` proto, its CRC; read without TensorFlow)."""
  import struct  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  tags = set()
  for path in directory.rglob("events.out.tfevents.*"):
    data = path.read_bytes()
    i = 0
    while i + 12 <= len(data):
      (n,) = struct.unpack("<Q", data[i:i + 8])
      event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
      tags.update(v.tag for v in event.summary.value)
      i += 12 + n + 4
  return tags


def test_a_run_records_each_start_and_its_end(tmp_path):
  write_sunspots_like(tmp_path / "raw", ar_series(120, seed=0, sigma=1.0))
  c = tiny.get_config()
  c.data.manual_dir, c.data.data_dir = str(tmp_path / "raw"), str(tmp_path / "tfds")
  c.baselines.arima = c.baselines.ets = False
  c.train.num_steps, c.train.eval_every, c.train.checkpoint_every = 20, 10, 10
  workdir = tmp_path / "w"
  train_and_evaluate(FORECAST, c, str(workdir), log=_quiet)
  c.train.num_steps = 30
  train_and_evaluate(FORECAST, c, str(workdir), log=_quiet)
  starts = json.loads((workdir / "run.json").read_text())
  assert [s["from_step"] for s in starts] == [0, 20]
  first = starts[0]
  assert first["packages"]["jax"] and first["packages"]["flax"]
  assert first["devices"]["platform"] == "cpu" and first["devices"]["count"] >= 1
  assert first["git"] is None or len(first["git"]["commit"]) == 40
  assert (workdir / "curves.png").stat().st_size > 1000
  # the final scores and the hyperparameters are in TensorBoard
  tags = event_tags(workdir / "tensorboard")
  assert "final/test/rnn/mase" in tags and "final/validation/rnn/mae" in tags
  assert "_hparams_/session_start_info" in tags  # the hyperparameters plugin's records


def test_git_state_outside_a_checkout(tmp_path):
  assert record.git_state(str(tmp_path)) is None


def test_a_damaged_run_json_is_kept_aside(tmp_path):
  (tmp_path / "run.json").write_text("{not json")
  entry = record.record_start(str(tmp_path), 5)
  assert entry["from_step"] == 5
  assert (tmp_path / "run.json.bad").read_text() == "{not json"
  assert len(json.loads((tmp_path / "run.json").read_text())) == 1
