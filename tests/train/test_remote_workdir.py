"""``--workdir=gs://bucket/run``, end to end on a stand-in for Cloud Storage (``tests.fakes.gcs``:
``gs://bucket/key`` is a file below a temporary directory, reached only through fsspec, and
orbax's TensorStore writes go to the same files). What a user of a bucket relies on: the
checkpoints are written, sealed and verified in the bucket; the run's records reach it after
every checkpoint and at the end; another machine resumes it exactly; a checkpoint that rots in
the bucket is skipped and moved aside there; the lease keeps a second trainer out, in-process
and from a real second process; a signal leaves the bucket resumable; nothing is ever written
to a local folder named ``gs:``."""

import json
import os
import re
import signal
import time

import pytest

from seqjax.train import checkpoint, trainer
from seqjax.train import workdir as workdir_lib
from seqjax.train.task import InputError
from seqjax.train.writer import read_metrics
from tests.fakes import gcs
from tests.train.test_faults import err_lines, run_toy, toy, wait_for
from tests.train.test_trainer import ToyTask, train_losses

QUIET = dict(log=lambda _: None)


@pytest.fixture(scope="module")
def bucket_root(tmp_path_factory):
  """The fake gs:// of this process (one root: fsspec and epath cache the filesystem); orbax's
  and seqjax's GCS hooks are put back after the module."""
  from orbax.checkpoint._src.path import gcs_utils  # pylint: disable=g-import-not-at-top
  saved = (gcs_utils.get_kvstore_for_gcs, gcs_utils.is_hierarchical_namespace_enabled,
           workdir_lib._missing_backend)  # pylint: disable=protected-access
  root = os.environ.get(gcs.ROOT_ENV) or str(tmp_path_factory.mktemp("fake_gcs"))
  gcs.install(root)
  yield root
  (gcs_utils.get_kvstore_for_gcs, gcs_utils.is_hierarchical_namespace_enabled,
   workdir_lib._missing_backend) = saved  # pylint: disable=protected-access


@pytest.fixture
def bucket(bucket_root, tmp_path, monkeypatch, request):
  """A fresh ``gs://<test>/run`` URL, this test's mirrors under ``tmp_path``, and the test run
  from ``tmp_path`` (so that a stray local ``gs:`` folder would show)."""
  monkeypatch.setenv("SEQJAX_MIRROR_DIR", str(tmp_path / "mirrors"))
  monkeypatch.chdir(tmp_path)
  name = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:60]
  yield f"gs://{name}-{os.getpid()}/run"
  assert not (tmp_path / "gs:").exists(), "a gs:// path was written as a local folder"


def text(url):
  with open(gcs.local(url), encoding="utf-8") as f:
    return f.read()


def read_lease(lease):
  with open(lease, encoding="utf-8") as f:
    return json.load(f)


def load(url):
  return json.loads(text(url))


def files(url):
  root = gcs.local(url)
  return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
                for f in fs)


def test_a_bucket_run_checkpoints_there_records_there_and_resumes_exactly_elsewhere(
    bucket, tmp_path, monkeypatch):
  task = ToyTask()
  straight = trainer.train_and_evaluate(task, task.schema(), str(tmp_path / "local"), **QUIET)
  short = task.schema()
  short.train.num_steps = 23
  logs = []
  trainer.train_and_evaluate(task, short, bucket, log=logs.append)
  assert logs[0].startswith(f"--workdir={bucket}: checkpoints written there, the run's records "
                            f"mirrored in {tmp_path}/mirrors/")
  stored = files(bucket)
  for name in ("config.json", "results.json", "run.json", "metrics.jsonl", "curves.png",
               "checkpoints/20/seqjax_manifest.json", "checkpoints/23/seqjax_manifest.json"):
    assert name in stored, name
  assert any(f.startswith("tensorboard/events.out.tfevents.") for f in stored)
  assert ".lock" not in stored and ".seqjax_remote" not in stored  # the lease is released
  assert checkpoint.verify(f"{bucket}/checkpoints/23") is None
  assert load(f"{bucket}/results.json")["steps"] == 23

  # Another machine (another mirror) resumes from the bucket and continues its records.
  monkeypatch.setenv("SEQJAX_MIRROR_DIR", str(tmp_path / "other_machine"))
  logs = []
  resumed = trainer.train_and_evaluate(task, task.schema(), bucket, log=logs.append)
  assert any(f"resumed from {bucket}/checkpoints at step 23" in line for line in logs)
  assert any(f"config differs from {bucket}/config.json" in line for line in logs)
  mirror = workdir_lib.mirror_dir(bucket)
  assert mirror.startswith(str(tmp_path / "other_machine"))
  a, b = train_losses(tmp_path / "local"), train_losses(mirror)
  assert all(a[s] == b[s] for s in range(30, 101, 5))  # as a local resume at 23 is
  assert resumed["validation"] == straight["validation"]
  remote_records = [json.loads(line) for line in text(f"{bucket}/metrics.jsonl").splitlines()]
  assert remote_records == read_metrics(mirror)
  steps = [(r["step"], r["split"]) for r in remote_records]
  assert len(steps) == len(set(steps))
  assert len(load(f"{bucket}/run.json")) == 2  # both starts

  # Training in the mirror itself would bypass the bucket's lease: refused, naming the URL.
  with pytest.raises(InputError, match=rf"--workdir={mirror} is the local mirror of {bucket}: "
                                       rf"pass --workdir={bucket}"):
    trainer.train_and_evaluate(task, task.schema(), mirror, **QUIET)

  # Inference and --mode=eval read the bucket directly; eval's record lands there.
  restored = trainer.restore(task, bucket)
  assert restored.step == resumed["best_step"]
  scored = trainer.evaluate_checkpoint(task, bucket, task.schema(), **QUIET)
  assert scored["validation"] == resumed["validation"]
  assert load(f"{bucket}/eval_best.json")["step"] == restored.step


def test_a_checkpoint_that_rots_in_the_bucket_is_skipped_and_moved_aside_there(bucket):
  task, config = toy(num_steps=23)
  trainer.train_and_evaluate(task, config, bucket, **QUIET)
  data = sorted(f for f in files(bucket) if f.startswith("checkpoints/23/state/")
                and "/d/" in f)[0]
  with open(gcs.local(f"{bucket}/{data}"), "r+b") as f:
    byte = f.read(1)
    f.seek(0)
    f.write(bytes([byte[0] ^ 0xFF]))
  rel = data[len("checkpoints/23/"):]
  assert checkpoint.verify(f"{bucket}/checkpoints/23") == \
      f"file {rel} fails its checksum (corrupted on disk)"
  logs = []
  config.train.num_steps = 30
  trainer.train_and_evaluate(task, config, bucket, log=logs.append)
  assert any(line == f"checkpoint 23 in {bucket}/checkpoints does not verify: file {rel} fails "
             "its checksum (corrupted on disk); skipping it" for line in logs), logs
  assert any(f"resumed from {bucket}/checkpoints at step 20" in line for line in logs)
  moved = [f for f in files(bucket) if f.startswith("corrupt/last-23-")]
  assert any(f.endswith("/" + rel) for f in moved)
  ckpt = checkpoint.Checkpointer(bucket)
  assert ckpt.steps() == [30, 20, 10] and ckpt.newest_verified() == 30
  ckpt.close()


def test_the_lease_keeps_a_second_trainer_out_is_renewed_and_is_taken_over_when_stale(
    bucket, monkeypatch):
  monkeypatch.setattr(workdir_lib, "BEAT_S", 0.05)
  lease = gcs.local(f"{bucket}/.lock")
  with workdir_lib.RemoteLock(bucket, **QUIET) as held:
    record = read_lease(lease)
    assert record["pid"] == os.getpid() and record["token"] == held.token
    with pytest.raises(workdir_lib.WorkdirBusy,
                       match=rf"--workdir={bucket} is in use by pid {os.getpid()} on host .*its "
                             r"lease renewed \d+ s ago\); one workdir, one trainer"):
      workdir_lib.RemoteLock(bucket, **QUIET).__enter__()
    task, config = toy(num_steps=5)
    with pytest.raises(InputError, match=rf"--workdir={bucket} is in use by pid {os.getpid()}"):
      trainer.train_and_evaluate(task, config, bucket, **QUIET)
    time.sleep(0.5)
    assert read_lease(lease)["beat"] > record["beat"]  # renewed while held
  assert not os.path.exists(lease)  # released

  # A holder that died without releasing: its lease is taken over once LEASE_S has passed.
  with open(lease, "w") as f:
    json.dump({"pid": 99999, "host": "gone", "beat": time.time() - workdir_lib.LEASE_S - 5}, f)
  logs = []
  with workdir_lib.RemoteLock(bucket, log=logs.append) as held:
    assert read_lease(lease)["token"] == held.token
  assert len(logs) == 1 and logs[0].startswith(
      f"--workdir={bucket}: taking over the lease of pid 99999 on host gone, not renewed for ")
  # Releasing never deletes a lease another holder took meanwhile.
  with workdir_lib.RemoteLock(bucket, **QUIET):
    with open(lease, "w") as f:
      json.dump({"pid": 1, "token": "someone else", "beat": time.time()}, f)
  assert read_lease(lease)["token"] == "someone else"


def test_the_mirror_pulls_the_bucket_as_the_truth_and_pushes_only_what_changed(bucket,
                                                                              tmp_path):
  root = workdir_lib.path(bucket)
  (root / "sub").mkdir(parents=True)
  (root / "metrics.jsonl").write_text("remote\n")
  (root / "sub" / "a.txt").write_text("a")
  (root / "checkpoints" / "5").mkdir(parents=True)
  (root / "checkpoints" / "5" / "big").write_text("not mirrored")
  local = str(tmp_path / "m")
  os.makedirs(local)
  with open(os.path.join(local, "metrics.jsonl"), "w") as f:
    f.write("stale local copy\n")
  with open(os.path.join(local, "only_here.txt"), "w") as f:
    f.write("x")
  mirror = workdir_lib.Mirror(bucket, local)
  assert mirror.pull() == 2
  assert sorted(os.listdir(local)) == [".seqjax_remote", "metrics.jsonl", "sub"]
  with open(os.path.join(local, "metrics.jsonl"), encoding="utf-8") as f:
    assert f.read() == "remote\n"
  assert workdir_lib.remote_of(local) == bucket
  assert workdir_lib.checkpoint_root(local) == bucket
  assert mirror.push() == 0  # nothing changed
  with open(os.path.join(local, "metrics.jsonl"), "a") as f:
    f.write("more\n")
  with open(os.path.join(local, "new.json"), "w") as f:
    f.write("{}")
  assert mirror.push() == 2 and mirror.push() == 0
  assert (root / "metrics.jsonl").read_text() == "remote\nmore\n"
  assert (root / "new.json").read_text() == "{}"
  assert not (root / ".seqjax_remote").exists()

  # The store unreachable at a checkpoint: one line, training goes on, and the next upload
  # carries what was missed.
  workdir_lib.open_mirror(bucket, local=local)
  with open(os.path.join(local, "metrics.jsonl"), "a") as f:
    f.write("during the outage\n")
  real_write = type(root).write_bytes
  failing = lambda self, data: (_ for _ in ()).throw(OSError("503 Service Unavailable"))
  logs = []
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(type(root), "write_bytes", failing)
    workdir_lib.sync(local, log=logs.append)
  assert logs == [f"could not upload the run's records to {bucket} (OSError: 503 Service "
                  "Unavailable); the checkpoint is saved, and they go with the next "
                  "checkpoint's upload"]
  assert type(root).write_bytes is real_write
  assert (root / "metrics.jsonl").read_text() == "remote\nmore\n"
  workdir_lib.sync(local, log=logs.append)
  assert len(logs) == 1
  assert (root / "metrics.jsonl").read_text() == "remote\nmore\nduring the outage\n"


def test_a_second_process_is_refused_and_a_signal_leaves_the_bucket_resumable(
    bucket, bucket_root, tmp_path):
  """Real processes: the first trains in the bucket and is evaluating; a second one, with a
  mirror of its own (another machine), is refused in one line; SIGTERM stops the first
  cleanly, its lease released and its records uploaded; the same command finishes the run."""
  env = {**gcs.env(bucket_root), "SEQJAX_MIRROR_DIR": str(tmp_path / "machine_a"),
         "TOY_EVAL_MARKER": str(tmp_path / "eval"), "TOY_EVAL_SLEEP": "3"}
  first = run_toy(bucket, "--config.train.num_steps=30", wait=False, env=env)
  wait_for(tmp_path / "eval.0", first)  # evaluating step 10
  second = run_toy(bucket, "--config.train.num_steps=30",
                   env={**gcs.env(bucket_root), "SEQJAX_MIRROR_DIR": str(tmp_path / "machine_b")})
  assert second.returncode == 2, second.stderr
  [line] = err_lines(second)
  assert line.startswith(f"error: --workdir={bucket} is in use by pid {first.pid} on host ")
  first.send_signal(signal.SIGTERM)  # at or after step 10 (the second took a while to start)
  _, stderr = first.communicate(timeout=120)
  assert first.returncode == 143, stderr
  [line] = [l for l in stderr.splitlines() if l.strip()]
  stop = re.fullmatch(rf"stopped: SIGTERM: stopped at step (\d+), saved in {bucket}/checkpoints; "
                      r"the same command resumes it", line)
  assert stop, line
  step = int(stop.group(1))
  result = load(f"{bucket}/results.json")  # uploaded on the way out
  assert result["stopped"] == f"interrupted (SIGTERM) at step {step}"
  assert not os.path.exists(gcs.local(f"{bucket}/.lock"))  # the lease released
  out = run_toy(bucket, "--config.train.num_steps=30",
                env={**gcs.env(bucket_root), "SEQJAX_MIRROR_DIR": str(tmp_path / "machine_b")})
  assert out.returncode == 0, out.stderr
  assert f"resumed from {bucket}/checkpoints at step {step}" in out.stdout
  result = load(f"{bucket}/results.json")
  assert result["stopped"] == "num_steps" and result["steps"] == 30
  records = [(m["step"], m["split"]) for m in map(json.loads, text(f"{bucket}/metrics.jsonl")
                                                  .splitlines())]
  assert len(records) == len(set(records)) and (30, "eval") in records
  assert not os.path.exists(os.path.join(gcs._REPO, "gs:"))  # pylint: disable=protected-access
