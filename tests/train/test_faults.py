"""Fault injection: what a user sees when files rot on disk, a config changes under a workdir,
raw data changes under a prepared copy, training diverges, signals arrive, or two trainers
share a workdir. Every fault here is real: bytes changed in files on disk, real signals sent to
a real training process, a real second process."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from seqjax.train import checkpoint, optim, trainer
from seqjax.train.task import InputError
from seqjax.train.writer import read_metrics
from tests.train.test_trainer import ToyTask, train_losses

REPO = pathlib.Path(__file__).resolve().parents[2]
QUIET = dict(log=lambda _: None)


def toy(**train):
  task = ToyTask()
  config = task.schema()
  for k, v in train.items():
    config.train[k] = v
  return task, config


def data_file(step_dir: pathlib.Path) -> pathlib.Path:
  """The largest array data file of a checkpoint's state (OCDBT chunks)."""
  files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and "/d/" in p.as_posix()]
  return max(files, key=lambda p: p.stat().st_size)


def flip_bits(path: pathlib.Path, offset: int = 40) -> None:
  data = bytearray(path.read_bytes())
  data[offset] ^= 0x01
  data[offset + 7] ^= 0x80
  path.write_bytes(bytes(data))


def truncate(path: pathlib.Path) -> None:
  path.write_bytes(path.read_bytes()[:-5])


def garble_metadata(step_dir: pathlib.Path) -> pathlib.Path:
  path = step_dir / "meta" / "metadata"
  path.write_text(path.read_text().replace('"', "'", 3))
  return path


# ---- 1. checkpoints verified on restore, with fallback ----------------------------------------
@pytest.mark.parametrize("fault", ["flip two bits", "truncate", "garble metadata"])
def test_a_corrupted_newest_checkpoint_is_skipped_and_the_run_resumes_exactly(tmp_path, fault):
  task, config = toy(num_steps=30)
  trainer.train_and_evaluate(task, config, str(tmp_path / "a"), **QUIET)
  step_dir = tmp_path / "a" / "checkpoints" / "30"
  if fault == "flip two bits":
    flip_bits(data_file(step_dir))
  elif fault == "truncate":
    truncate(data_file(step_dir))
  else:
    garble_metadata(step_dir)
  assert checkpoint.verify(str(step_dir)) is not None
  logs = []
  _, config = toy(num_steps=40)
  trainer.train_and_evaluate(task, config, str(tmp_path / "a"), log=logs.append)
  skipped = [line for line in logs if "checkpoint 30" in line and "does not verify" in line]
  assert len(skipped) == 1, logs
  assert {"flip two bits": "fails its checksum", "truncate": "bytes, ",
          "garble metadata": "meta/metadata fails its checksum"}[fault] in skipped[0]
  assert any("resumed from" in line and "at step 20" in line for line in logs)
  assert any(line.startswith("moved last checkpoint 30 aside") for line in logs)
  assert len(list((tmp_path / "a" / "corrupt").iterdir())) == 2  # last 30 and best 30
  # The resumed run retrains 21..40 exactly as a run never interrupted.
  straight_task, straight = toy(num_steps=40)
  trainer.train_and_evaluate(straight_task, straight, str(tmp_path / "b"), **QUIET)
  a, b = train_losses(tmp_path / "a"), train_losses(tmp_path / "b")
  assert a == b
  # Each step is recorded once (the steps 21..30 of the first start were dropped).
  records = [(m["step"], m["split"]) for m in read_metrics(str(tmp_path / "a"))]
  assert len(records) == len(set(records))


def test_restore_for_inference_falls_back_from_a_corrupted_best_checkpoint(tmp_path):
  task, config = toy(num_steps=30)
  trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)
  flip_bits(data_file(tmp_path / "best" / "30"))
  logs = []
  restored = trainer.restore(task, str(tmp_path), log=logs.append)
  assert restored.step == 30  # the last checkpoint of the same step verifies
  assert any("best" in line and "does not verify" in line for line in logs)
  assert any("using the newest verified last checkpoint (step 30)" in line for line in logs)


def test_no_verified_checkpoint_is_one_line_exit_2_and_moves_nothing(tmp_path):
  task, config = toy(num_steps=20)
  trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)
  for step in (10, 20):
    flip_bits(data_file(tmp_path / "checkpoints" / str(step)))
  out = run_toy(tmp_path, "--config.train.num_steps=30")
  assert out.returncode == 2
  assert err_lines(out) == [
      f"error: no checkpoint in {tmp_path}/checkpoints verifies (2 tried: 20, 10); the workdir "
      f"{tmp_path} cannot be resumed: move its checkpoints aside or use another --workdir"]
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10", "20"]


def test_a_checkpoint_that_verifies_but_does_not_fit_is_named(tmp_path):
  task, config = toy(num_steps=10)
  trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  target = {"w": np.zeros((7, 7), np.float32)}
  with pytest.raises(checkpoint.CheckpointError, match="checkpoint 10 in .* verifies but does "
                     "not fit the model this config builds"):
    ckpt.restore(target, 10)
  ckpt.close()


def test_restore_without_a_step_names_the_newer_checkpoint_it_skips(tmp_path):
  task, config = toy(num_steps=20)
  trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)
  flip_bits(data_file(tmp_path / "checkpoints" / "20"))
  data = task.data(config, None)
  model = task.model(config, data.meta, data)
  optimizer = task.optimizer(config, data.steps_per_epoch, 20)
  target = trainer.state_initializer(task, config, model, optimizer, data.meta, 16)()
  logs = []
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  state, _, _ = ckpt.restore(target, log=logs.append)
  ckpt.close()
  assert int(state.step) == 10
  assert len(logs) == 1 and logs[0].startswith(f"checkpoint 20 in {tmp_path}/checkpoints does "
                                               "not verify: file state/")


# ---- 2. the saved config is compared on resume ------------------------------------------------
def test_resume_refuses_a_changed_model_key_and_leaves_the_workdir_as_it_was(tmp_path):
  task, config = toy(num_steps=20)
  trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)
  before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
  out = run_toy(tmp_path, "--config.train.num_steps=30", "--config.optimizer.name=sgd",
                "--config.seed=3")
  assert out.returncode == 2
  assert err_lines(out) == [
      f"error: --workdir={tmp_path} was trained with optimizer.name='adam', the config now says "
      "'sgd' (and 1 more: seed); a resumed run keeps the keys that shape the model, the data and "
      "the optimisation: use another --workdir, or pass --allow_config_change to continue from "
      "its checkpoint (step 20) with the new config"]
  assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before
  # Keys that may change (how long, how often) pass; --allow_config_change lets the rest pass.
  logs = []
  _, longer = toy(num_steps=30, log_every=10)
  trainer.train_and_evaluate(task, longer, str(tmp_path), log=logs.append)
  longer.train.num_steps, longer.optimizer.learning_rate = 40, 0.01
  with pytest.raises(InputError, match="optimizer.learning_rate=0.1, the config now says 0.01"):
    trainer.train_and_evaluate(task, longer, str(tmp_path), **QUIET)
  trainer.train_and_evaluate(task, longer, str(tmp_path), allow_config_change=True,
                             log=logs.append)
  assert any("--allow_config_change: resuming step 30" in line and
             "optimizer.learning_rate 0.1 -> 0.01" in line for line in logs)


def test_a_learning_rate_changed_on_resume_is_the_one_trained_with(tmp_path):
  """optax keeps a constant rate in the optimizer state; the checkpoint's must not silently
  win over the config's when --allow_config_change changes it."""
  task, config = toy(num_steps=20, log_every=1)
  trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)
  logs = []
  config.train.num_steps, config.optimizer.learning_rate = 30, 0.01
  trainer.train_and_evaluate(task, config, str(tmp_path), allow_config_change=True,
                             log=logs.append)
  assert "optimizer.learning_rate 0.1 -> 0.01: the restored rate 0.1 becomes 0.01" in logs
  rates = {m["step"]: m["learning_rate"] for m in read_metrics(str(tmp_path))
           if m["split"] == "train"}
  assert rates[20] == pytest.approx(0.1) and rates[21] == pytest.approx(0.01)
  assert rates[30] == pytest.approx(0.01)
  # The same learning rate again: nothing is set or logged.
  logs.clear()
  config.train.num_steps = 35
  trainer.train_and_evaluate(task, config, str(tmp_path), allow_config_change=True,
                             log=logs.append)
  assert not any("the restored rate" in line for line in logs)


def test_a_plateau_decayed_rate_keeps_its_decays_when_the_base_rate_changes():
  task, config = toy()
  data = task.data(config, None)
  model = task.model(config, data.meta, data)
  optimizer = task.optimizer(config, data.steps_per_epoch, 10)
  state = trainer.state_initializer(task, config, model, optimizer, data.meta, 16)()
  state = state.replace(opt_state=optim.decay_learning_rate(state.opt_state, 0.5))  # 0.05
  saved = {"config": config.to_json()}
  config.optimizer.learning_rate = 0.01
  logs = []
  state = trainer.apply_config_learning_rate(config, logs.append)(state, saved)
  assert optim.learning_rate(state.opt_state) == pytest.approx(0.005)
  assert logs == ["optimizer.learning_rate 0.1 -> 0.01: the restored rate 0.05 becomes 0.005 "
                  "(the plateau decays so far are kept)"]
  config.optimizer.schedule = "warmup_cosine"  # the schedule reads the config every step
  assert trainer.apply_config_learning_rate(config, logs.append)(state, saved) is state


def test_a_workdir_of_another_task_is_refused(tmp_path):
  task, config = toy(num_steps=10)
  trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)

  class Other(ToyTask):
    name = "other"

  with pytest.raises(InputError, match=f"--workdir={tmp_path} holds a 'toy' run, not 'other'"):
    trainer.train_and_evaluate(Other(), config, str(tmp_path), **QUIET)
  with pytest.raises(ValueError, match="holds a 'toy' run, not 'other'"):
    trainer.restore(Other(), str(tmp_path))


# ---- 4. no checkpoint holds a non-finite value ------------------------------------------------
def test_non_finite_parameters_are_never_saved(tmp_path):
  task, config = toy(num_steps=20, checkpoint_every=1, eval_every=100)
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 3e38
  with pytest.raises(FloatingPointError, match=r"non-finite values in \[.params.\]\[.(bias|kernel).\] "
                     r"after step 1; not saved, no checkpoint was written"):
    trainer.train_and_evaluate(task, config, str(tmp_path), **QUIET)
  assert checkpoint.Checkpointer(str(tmp_path)).steps() == []
  result = json.loads((tmp_path / "results.json").read_text())
  assert result["stopped"].startswith("non-finite values in") and result["steps"] == 1


# ---- 6. signals ---------------------------------------------------------------------------------
def run_toy(workdir, *flags, env=None, wait=True):
  cmd = [sys.executable, "-m", "tests.train.toy_main", f"--workdir={workdir}", *flags]
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", **(env or {})}
  if not wait:
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
  return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def err_lines(out):
  return [line for line in out.stderr.splitlines() if line.strip()]


def wait_for(path: pathlib.Path, proc, timeout=120.0):
  start = time.time()
  while not path.exists():
    if proc.poll() is not None:
      raise AssertionError(f"the run ended (rc {proc.returncode}) before {path.name}: "
                           f"{proc.stderr.read()[-2000:]}")
    if time.time() - start > timeout:
      raise AssertionError(f"{path} did not appear in {timeout} s")
    time.sleep(0.05)


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_evaluation_at_a_checkpoint_step_exits_cleanly(tmp_path, sig, code):
  """The evaluation at step 10 is also a checkpoint step: the best and last checkpoints of
  step 10 are saved once, the process says so in one line and exits 128 + the signal; the
  same command then finishes the run, and its records say how it ended."""
  marker = tmp_path / "eval"
  proc = run_toy(tmp_path / "w", "--config.train.num_steps=30", wait=False,
                 env={"TOY_EVAL_MARKER": str(marker), "TOY_EVAL_SLEEP": "1.5"})
  wait_for(tmp_path / "eval.0", proc)  # the evaluation of step 10 is running
  proc.send_signal(sig)
  _, stderr = proc.communicate(timeout=120)
  name = signal.Signals(sig).name
  assert proc.returncode == code, stderr
  assert [line for line in stderr.splitlines() if line.strip()] == [
      f"stopped: {name}: stopped at step 10, saved in {tmp_path}/w/checkpoints; the same "
      "command resumes it"]
  result = json.loads((tmp_path / "w" / "results.json").read_text())
  assert result["stopped"] == f"interrupted ({name}) at step 10" and result["steps"] == 10
  assert checkpoint.Checkpointer(str(tmp_path / "w")).steps() == [10]
  out = run_toy(tmp_path / "w", "--config.train.num_steps=30")
  assert out.returncode == 0, out.stderr
  assert "resumed from" in out.stdout and "at step 10" in out.stdout
  result = json.loads((tmp_path / "w" / "results.json").read_text())
  assert result["stopped"] == "num_steps" and result["steps"] == 30
  records = [(m["step"], m["split"]) for m in read_metrics(str(tmp_path / "w"))]
  assert len(records) == len(set(records)) and (30, "eval") in records


def test_kill_9_then_resume_records_every_step_once(tmp_path):
  """SIGKILL after the step-20 checkpoint while step 30 is being evaluated: the records of
  steps 21..30 written before the kill are dropped on resume and written again once."""
  marker = tmp_path / "eval"
  proc = run_toy(tmp_path / "w", "--config.train.num_steps=40", wait=False,
                 env={"TOY_EVAL_MARKER": str(marker), "TOY_EVAL_SLEEP": "1.5"})
  wait_for(tmp_path / "eval.2", proc)  # evaluating step 30, not yet saved
  proc.kill()
  proc.communicate(timeout=60)
  steps = [m["step"] for m in read_metrics(str(tmp_path / "w")) if m["split"] == "train"]
  assert max(steps) == 30
  out = run_toy(tmp_path / "w", "--config.train.num_steps=40")
  assert out.returncode == 0, out.stderr
  records = [(m["step"], m["split"]) for m in read_metrics(str(tmp_path / "w"))]
  assert len(records) == len(set(records))
  assert [s for s, split in records if split == "train"] == list(range(5, 41, 5))


# ---- 7. one workdir, one trainer ----------------------------------------------------------------
def test_a_second_trainer_on_a_busy_workdir_is_refused_and_the_first_finishes(tmp_path):
  marker = tmp_path / "eval"
  first = run_toy(tmp_path / "w", "--config.train.num_steps=20", wait=False,
                  env={"TOY_EVAL_MARKER": str(marker), "TOY_EVAL_SLEEP": "8"})
  wait_for(tmp_path / "eval.0", first)
  second = run_toy(tmp_path / "w", "--config.train.num_steps=20")
  assert second.returncode == 2
  [line] = err_lines(second)
  assert line.startswith(f"error: --workdir={tmp_path}/w is in use by pid {first.pid} on host ")
  assert line.endswith("one workdir, one trainer: wait for it, stop it, or use another --workdir")
  _, stderr = first.communicate(timeout=120)
  assert first.returncode == 0, stderr
  result = json.loads((tmp_path / "w" / "results.json").read_text())
  assert result["steps"] == 20 and result["stopped"] == "num_steps"


def test_reading_a_workdir_a_trainer_is_saving_in_says_so_not_that_its_files_are_bad(tmp_path):
  """A checkpoint being saved has no seal yet, so it does not verify. While a real trainer holds
  the workdir, a reader (eval, predict, margins) is told that a run is saving in it, and never
  that the workdir cannot be resumed or that its checkpoints should be moved aside."""
  from seqjax.train import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from tests.train import toy_main  # pylint: disable=g-import-not-at-top
  w = tmp_path / "w"
  assert run_toy(w, "--config.train.num_steps=20").returncode == 0
  assert workdir_lib.live_holder(str(w)) is None  # the trainer has exited
  marker = tmp_path / "eval"
  first = run_toy(w, "--config.train.num_steps=40", wait=False,
                  env={"TOY_EVAL_MARKER": str(marker), "TOY_EVAL_SLEEP": "8"})
  try:
    wait_for(tmp_path / "eval.0", first)  # resumed from step 20, evaluating step 30
    assert workdir_lib.live_holder(str(w))["pid"] == first.pid
    seals = {p: p.read_bytes() for p in w.glob(f"*/*/{checkpoint.MANIFEST}")}
    best = [p for p in seals if p.parts[-3] == "best"]
    assert best, sorted(seals)
    for p in best:  # as while the trainer is saving a new best checkpoint
      p.unlink()
    logs = []
    restored = trainer.restore(toy_main.TASK, str(w), log=logs.append)
    assert restored.step == 20
    running = f"pid {first.pid} is training in --workdir={w} now"
    assert any(line.startswith(f"checkpoint 20 in {w}/best does not verify") and running in line
               for line in logs), logs
    assert any(line.startswith(f"no best checkpoint of --workdir={w} verifies yet") and running
               in line and line.endswith("using the newest verified last checkpoint (step 20) "
                                         "instead") for line in logs), logs
    assert not any("cannot be resumed" in line or "move" in line for line in logs), logs
    for p in seals:
      if p.exists():
        p.unlink()
    with pytest.raises(checkpoint.CheckpointError,
                       match=f"no checkpoint of --workdir={w} verifies yet: {running}.*wait for "
                       "its next save"):
      trainer.restore(toy_main.TASK, str(w), log=lambda _: None)
    for p, data in seals.items():  # sealed again: the run goes on as if nothing happened
      p.write_bytes(data)
  finally:
    _, stderr = first.communicate(timeout=120)
  assert first.returncode == 0, stderr
  assert workdir_lib.live_holder(str(w)) is None
  assert trainer.restore(toy_main.TASK, str(w), "last", log=lambda _: None).step == 40


def test_live_holder_is_a_running_process_on_this_host_only(tmp_path):
  import socket  # pylint: disable=g-import-not-at-top
  from seqjax.train import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  lock = tmp_path / workdir_lib.LOCK
  assert workdir_lib.live_holder(str(tmp_path)) is None  # no record
  sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    here = socket.gethostname()
    for record, live in [({"host": here, "pid": sleeper.pid}, True),
                         ({"host": here + "-other", "pid": sleeper.pid}, False),
                         ({"host": here, "pid": os.getpid()}, False),
                         ({"host": here, "pid": "12"}, False)]:
      lock.write_text(json.dumps(record))
      assert (workdir_lib.live_holder(str(tmp_path)) is not None) == live, record
    lock.write_text("{not json")
    assert workdir_lib.live_holder(str(tmp_path)) is None
  finally:
    sleeper.kill()
    sleeper.wait()
  lock.write_text(json.dumps({"host": here, "pid": sleeper.pid}))  # exited: not live
  assert workdir_lib.live_holder(str(tmp_path)) is None
  assert workdir_lib.live_holder("gs://bucket/run") is None


# ---- 8, 9. bad input is one line -------------------------------------------------------------
@pytest.mark.parametrize("flag,message", [
    ("--config.optimizer.learning_rate=-0.1",
     "optimizer.learning_rate must be a finite number > 0; got -0.1"),
    ("--config.optimizer.learning_rate=nan",
     "optimizer.learning_rate must be a finite number > 0; got nan"),
    ("--config.optimizer.learning_rate=inf",
     "optimizer.learning_rate must be a finite number > 0; got inf"),
    ("--config.train.eval_every=-1", "train.eval_every must be an int >= 0; got -1"),
    ("--config.train.keep_checkpoints=0", "train.keep_checkpoints must be a positive int; got 0"),
])
def test_nonsense_values_are_refused(tmp_path, flag, message):
  task, config = toy()
  key, value = flag[len("--config."):].split("=")
  section, name = key.split(".")
  config[section][name] = float(value) if section == "optimizer" else int(value)
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    task.check(config)
    trainer.check_loop(config.train)


def test_a_workdir_that_is_a_file_is_one_line(tmp_path):
  (tmp_path / "f").write_text("x")
  out = run_toy(tmp_path / "f")
  assert out.returncode == 2
  assert err_lines(out) == [f"error: --workdir='{tmp_path}/f' is a file, not a directory"]


@pytest.mark.parametrize("url,message", [
    ("s3://b/run", r"--workdir='s3://b/run': s3:// is not supported; workdirs on object storage "
                   r"are gs://"),
    ("gs://b", r"--workdir='gs://b': give a bucket and a path in it \(gs://BUCKET/RUN\)"),
    ("gs://b/run", r"--workdir='gs://b/run': writing to gs:// needs .*pip install -e "
                   r"\"\.\[gcs\]\""),
])
def test_an_object_storage_workdir_it_cannot_write_is_refused_not_written_locally(
    tmp_path, monkeypatch, url, message):
  """``--workdir=gs://b/run`` once wrote a local folder ``./gs:/b/run``; a URL this
  installation cannot write (another scheme, a bucket's root, the GCS clients missing) is one
  line, and nothing is written."""
  from seqjax.train import workdir as workdir_lib
  if url == "gs://b/run" and workdir_lib._missing_backend("gs") is None:  # pylint: disable=protected-access
    pytest.skip("gcsfs and google-cloud-storage are installed here")
  monkeypatch.chdir(tmp_path)
  task, config = toy(num_steps=5)
  with pytest.raises(InputError, match=message):
    trainer.train_and_evaluate(task, config, url, **QUIET)
  assert os.listdir(tmp_path) == []
