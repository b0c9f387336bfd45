"""The launch scripts: ``--dry_run`` prints the exact commands; bad options get one-line errors;
``local.sh`` really runs a tiny experiment as two processes."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def launch(script: str, *args: str, check: bool = True, timeout: int = 60):
  env = {**os.environ, "PYTHON": sys.executable}
  env.pop("XLA_FLAGS", None)
  result = subprocess.run(["bash", str(REPO / "launch" / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
  if check:
    assert result.returncode == 0, result.stderr
  return result


def commands(result) -> list[str]:
  return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


PY = sys.executable


def test_tpu_vm_dry_run_creates_copies_installs_and_runs_on_every_worker():
  out = commands(launch("tpu_vm.sh", "--name=tpu1", "--zone=us-central2-b", "--create",
                        "--project=proj", "--accelerator=v4-32", "--dry_run", "lm",
                        "--config=experiments/lm/configs/ptb_medium.py", "--workdir=gs://b/r"))
  where = "--zone=us-central2-b --project=proj"
  assert out[0] == f"gcloud compute tpus tpu-vm describe tpu1 {where}"
  assert out[1] == (f"gcloud compute tpus tpu-vm create tpu1 {where} --accelerator-type=v4-32 "
                    "--version=tpu-ubuntu2204-base")
  assert out[2].startswith("tar czf ") and "--exclude=.git" in out[2]
  assert out[3].endswith(f"tpu1:seqjax.tgz {where} --worker=all")
  assert out[4].startswith(f"gcloud compute tpus tpu-vm ssh tpu1 {where} --worker=all "
                           "--command=mkdir\\ -p\\ seqjax")
  assert "pip\\ install" in out[4] and "jax\\[tpu\\]" in out[4]
  assert out[5] == (f"gcloud compute tpus tpu-vm ssh tpu1 {where} --worker=all --command=cd\\ "
                    f"seqjax\\ \\&\\&\\ {PY}\\ -m\\ experiments.lm.main\\ "
                    "--config=experiments/lm/configs/ptb_medium.py\\ --workdir=gs://b/r")
  assert len(out) == 6


def test_gpu_multihost_dry_runs():
  out = commands(launch("gpu_multihost.sh", "--hosts=g0,g1,g2", "--port=999", "--dir=/code",
                        "--dry_run", "sentiment", "--workdir=/nfs/r"))
  assert len(out) == 3
  for i, line in enumerate(out):
    assert line == (f"ssh g{i} cd\\ /code\\ \\&\\&\\ JAX_COORDINATOR_ADDRESS=g0:999\\ "
                    f"JAX_NUM_PROCESSES=3\\ JAX_PROCESS_ID={i}\\ {PY}\\ -m\\ "
                    "experiments.sentiment.main\\ --workdir=/nfs/r")
  out = commands(launch("gpu_multihost.sh", "--slurm", "--nodes=4", "--gpus_per_node=8",
                        "--dry_run", "lm", "--workdir=/nfs/r"))
  assert out == [f"srun --nodes=4 --ntasks-per-node=1 --gpus-per-node=8 {PY} -m "
                 "experiments.lm.main --workdir=/nfs/r"]
  out = commands(launch("gpu_multihost.sh", "--coordinator=g0:1", "--num_processes=2",
                        "--process_id=1", "--dry_run", "lm", "--workdir=/nfs/r"))
  assert out == [f"env JAX_COORDINATOR_ADDRESS=g0:1 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=1 {PY} "
                 "-m experiments.lm.main --workdir=/nfs/r"]


def test_local_dry_run_with_processes():
  out = commands(launch("local.sh", "--cpu_devices=4", "--processes=2", "--port=5555",
                        "--dry_run", "synthetic", "--workdir=/tmp/w"))
  flags = "XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu"
  dist = "JAX_COORDINATOR_ADDRESS=127.0.0.1:5555 JAX_NUM_PROCESSES=2"
  assert out == ["mkdir -p /tmp/w",
                 f"(background, log /tmp/w/process_1.log) env {flags} {dist} JAX_PROCESS_ID=1 "
                 f"{PY} -m experiments.synthetic.main --workdir=/tmp/w",
                 f"env {flags} {dist} JAX_PROCESS_ID=0 {PY} -m experiments.synthetic.main "
                 "--workdir=/tmp/w"]


@pytest.mark.parametrize("script,args,message", [
    ("local.sh", ["--dry_run", "nlp"], "unknown experiment 'nlp'; choose from: caption lm "
                                       "recsys sentiment synthetic tagging timeseries translate vae vqa word2vec"),
    ("local.sh", ["--gpus=2", "lm"], "unknown option --gpus=2"),
    ("local.sh", ["--processes=2", "lm"], "--processes needs --workdir=DIR"),
    ("local.sh", ["--port=http", "lm"], "--port must be a port number; got 'http'"),
    ("gpu_multihost.sh", ["--slurm", "--nodes=2", "--gpus_per_node=x", "lm"],
     "--gpus_per_node must be a positive number; got 'x'"),
    ("tpu_vm.sh", ["--zone=z", "lm"], "--name=NAME (the TPU VM) is required"),
    ("gpu_multihost.sh", ["--slurm", "lm"], "--slurm needs --nodes=N"),
    ("gpu_multihost.sh", ["--slurm", "--nodes=2", "--hosts=a", "lm"], "choose exactly one of"),
    ("gpu_multihost.sh", ["--coordinator=a:1", "--num_processes=2", "--process_id=2", "lm"],
     "--process_id=2 must be < --num_processes=2"),
])
def test_bad_options_exit_2_with_one_line(script, args, message):
  result = launch(script, *args, check=False)
  assert result.returncode == 2
  assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_every_experiment_can_be_launched():
  """The list comes from the experiments (every ``experiments/<name>/main.py``), not a hand
  list: tagging, word2vec, recsys and timeseries were refused before."""
  names = sorted(p.parent.name for p in (REPO / "experiments").glob("*/main.py"))
  assert {"tagging", "word2vec", "recsys", "timeseries", "lm"} <= set(names)
  for name in names:
    out = commands(launch("local.sh", "--dry_run", name, "--workdir=/tmp/w"))
    assert out == [f"env {PY} -m experiments.{name}.main --workdir=/tmp/w"]


def test_the_tpu_tarball_holds_what_pip_install_needs(tmp_path, monkeypatch):
  """Runs the dry run's own ``tar`` command, unpacks it and builds seqjax from it (``pip
  install -e .`` on a worker failed before: the tarball lacked pyproject.toml)."""
  import shlex  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv("TMPDIR", str(tmp_path))
  out = commands(launch("tpu_vm.sh", "--name=t", "--zone=z", "--dry_run", "timeseries",
                        "--workdir=gs://b/r"))
  tar = shlex.split(out[1])  # no --create: describe, then tar
  assert tar[0] == "tar"
  subprocess.run(tar, cwd=REPO, check=True, timeout=120)
  unpacked = tmp_path / "unpacked"
  unpacked.mkdir()
  subprocess.run(["tar", "xzf", str(tmp_path / "seqjax-t.tgz"), "-C", str(unpacked)], check=True)
  for needed in ("pyproject.toml", "setup.cfg", "README.md", "seqjax/__init__.py",
                 "experiments/timeseries/main.py", "launch/common.sh"):
    assert (unpacked / needed).is_file(), needed
  assert not (unpacked / ".git").exists()
  pytest.importorskip("setuptools")
  pytest.importorskip("wheel")
  built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "--no-index", "-w", str(tmp_path / "wheel"),
                          str(unpacked)], capture_output=True, text=True, timeout=300)
  assert built.returncode == 0, built.stderr[-2000:]
  assert list((tmp_path / "wheel").glob("seqjax-*.whl"))


def test_local_runs_a_tiny_experiment_as_two_processes(tmp_path):
  workdir = tmp_path / "run"
  result = launch("local.sh", "--cpu_devices=2", "--processes=2", f"--port={_port()}",
                  "synthetic", "--config=experiments/synthetic/configs/tiny.py",
                  f"--workdir={workdir}", timeout=240)
  assert "mesh data=4 x model=1 over 4 cpu devices, process 0 of 2" in result.stdout
  other = (workdir / "process_1.log").read_text()
  assert "process 1 of 2" in other
  summary = json.loads((workdir / "results.json").read_text())
  assert summary["steps"] == 6


def _port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _xm_launch():
  sys.path.insert(0, str(REPO / "launch"))
  try:
    import xm_launch  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.pop(0)
  return xm_launch


def test_xmanager_plan_for_every_executor():
  xl = _xm_launch()
  assert xl.experiments() == sorted(p.parent.name for p in (REPO / "experiments").glob("*/main.py"))
  local = xl.plan("tagging", "local", ["--config=c.py", "--workdir=/w"])
  assert local["executable"] == {"binary": str(REPO / "launch" / "xm_entry.sh"),
                                 "args": ["tagging", "--config=c.py", "--workdir=/w"]}
  vertex = xl.plan("lm", "vertex", ["--workdir=gs://b/r"], accelerator="A100", count=2,
                   jax_extra="cuda12", push_image_tag="gcr.io/p/s:1")
  assert vertex["requirements"] == {"A100": 2}
  e = vertex["executable"]
  assert e["entrypoint"] == "experiments.lm.main" and e["push_image_tag"] == "gcr.io/p/s:1"
  assert e["docker_instructions"][-1] == \
      "RUN pip install --no-cache-dir -e '.[gcs]' 'jax[cuda12]'"
  for args, message in [(("nlp", "local", []), "--experiment must be one of"),
                        (("lm", "slurm", []), "--executor must be one of"),
                        (("lm", "local", ["positional"]), "must be --flag=value"),
                        (("lm", "local", []), "--push_image_tag is for")]:
    with pytest.raises(ValueError, match=message):
      xl.plan(*args, push_image_tag="x" if "push" in message else "")


def test_xmanager_dry_run_builds_real_jobs():
  pytest.importorskip("xmanager")
  proc = subprocess.run([PY, str(REPO / "launch" / "xm_launch.py"), "--experiment=timeseries",
                         "--executor=vertex", "--accelerator=A100", "--dry_run", "--",
                         "--config=experiments/timeseries/configs/tiny.py", "--workdir=gs://b/r"],
                        cwd=REPO, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert "job: executor=Vertex requirements={<ResourceType.A100: " in proc.stdout


def test_xmanager_missing_is_one_line():
  try:
    import xmanager  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    pytest.skip("xmanager is installed")
  except ImportError:
    pass
  proc = subprocess.run([PY, str(REPO / "launch" / "xm_launch.py"), "--experiment=lm",
                         "--dry_run"], cwd=REPO, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 2
  assert proc.stderr.strip() == ("error: launch/xm_launch.py needs the xmanager package: pip "
                                 "install -e \".[xmanager]\"")
