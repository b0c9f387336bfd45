r"""Launches any seqjax experiment with XManager (``pip install -e ".[xmanager]"``).

    python launch/xm_launch.py --experiment=lm --executor=vertex --accelerator=A100 \
        --accelerator_count=1 -- --config=experiments/lm/configs/ptb_large.py \
        --workdir=gs://BUCKET/ptb_large

Executors:
- ``local``: this machine, as a local binary (``launch/xm_entry.sh`` runs
  ``python -m experiments.<name>.main`` from this checkout; no Docker needed);
- ``vertex``: Vertex AI, and ``gke``: Google Kubernetes Engine. Both package this checkout as a
  Python container (``--base_image``; seqjax and ``jax[<--jax_extra>]`` installed into it with
  ``pip install -e .``), pushed to ``--push_image_tag`` when given.

Every flag after ``--`` goes to the experiment's ``main.py`` unchanged. ``--dry_run`` builds
the same jobs into XManager's mock experiment and prints them (executable, executor, resources,
arguments); nothing is packaged or started. Any experiment with an
``experiments/<name>/main.py`` can be launched.
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any, Sequence

from absl import app, flags

REPO = pathlib.Path(__file__).resolve().parents[1]
EXECUTORS = ("local", "vertex", "gke")

_EXPERIMENT = flags.DEFINE_string("experiment", None, "The experiment: a directory of "
                                  "experiments/ with a main.py.")
_EXECUTOR = flags.DEFINE_enum("executor", "local", list(EXECUTORS), "Where the job runs.")
_ACCELERATOR = flags.DEFINE_string("accelerator", "", "An XManager resource name (A100, H100, "
                                   "V100, T4, TPU_V4, ...); empty: CPU only.")
_COUNT = flags.DEFINE_integer("accelerator_count", 1, "How many of --accelerator.")
_BASE_IMAGE = flags.DEFINE_string("base_image", "python:3.11",
                                  "The container's base image (vertex, gke).")
_JAX_EXTRA = flags.DEFINE_string("jax_extra", "cuda12", "Installs jax[<this>] in the container "
                                 "(cuda12, tpu; empty: the CPU jax).")
_PUSH = flags.DEFINE_string("push_image_tag", "", "Registry tag to push the image to "
                            "(vertex, gke).")
_TITLE = flags.DEFINE_string("title", "", "Experiment title (default: seqjax <experiment>).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the jobs; package and start nothing.")


def experiments() -> list[str]:
  """Every launchable experiment: a directory of ``experiments/`` with a ``main.py``."""
  return sorted(p.parent.name for p in (REPO / "experiments").glob("*/main.py"))


def docker_instructions(jax_extra: str, base_image: str) -> list[str]:
  """The container build: this checkout copied to /seqjax and installed editable with jax."""
  del base_image  # the FROM line is XManager's, from --base_image
  jax = f"'jax[{jax_extra}]'" if jax_extra else "jax"
  return [f"COPY {REPO.name}/ /seqjax", "WORKDIR /seqjax",
          f"RUN pip install --no-cache-dir -e '.[gcs]' {jax}"]


def plan(experiment: str, executor: str, args: Sequence[str], *, accelerator: str = "",
         count: int = 1, base_image: str = "python:3.11", jax_extra: str = "cuda12",
         push_image_tag: str = "") -> dict[str, Any]:
  """What will be launched, as plain values (checked here, built by ``build``):
  ``ValueError`` naming the flag for a bad value."""
  names = experiments()
  if experiment not in names:
    raise ValueError(f"--experiment must be one of {names}; got {experiment!r}")
  if executor not in EXECUTORS:
    raise ValueError(f"--executor must be one of {list(EXECUTORS)}; got {executor!r}")
  if count < 1:
    raise ValueError(f"--accelerator_count must be >= 1; got {count}")
  if executor == "local" and push_image_tag:
    raise ValueError("--push_image_tag is for the vertex and gke executors")
  for arg in args:
    if not arg.startswith("--"):
      raise ValueError(f"experiment arguments after -- must be --flag=value; got {arg!r}")
  out = {"experiment": experiment, "executor": executor, "args": list(args),
         "requirements": {accelerator: count} if accelerator else {}}
  if executor == "local":
    out["executable"] = {"binary": str(REPO / "launch" / "xm_entry.sh"),
                         "args": [experiment, *args]}
  else:
    out["executable"] = {"python_container": str(REPO), "base_image": base_image,
                         "entrypoint": f"experiments.{experiment}.main",
                         "docker_instructions": docker_instructions(jax_extra, base_image),
                         "push_image_tag": push_image_tag or None, "args": list(args)}
  return out


def _xm():
  try:
    from xmanager import xm, xm_local  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ImportError("launch/xm_launch.py needs the xmanager package: pip install -e "
                      "\".[xmanager]\"") from None
  return xm, xm_local


def build(experiment_obj: Any, p: dict[str, Any]) -> None:
  """Packages ``p``'s executable and adds its job to ``experiment_obj`` (an XManager experiment:
  ``xm_local.create_experiment``'s, or ``xm_mock.MockExperiment`` for a dry run)."""
  xm, xm_local = _xm()
  requirements = xm.JobRequirements(**p["requirements"])
  e = p["executable"]
  if p["executor"] == "local":
    spec = xm_local.Local.Spec()
    packageable = xm.binary(executor_spec=spec, path=e["binary"], args=e["args"])
    executor = xm_local.Local(requirements=requirements, experimental_stream_output=True)
  else:
    kind = xm_local.Vertex if p["executor"] == "vertex" else xm_local.Kubernetes
    spec = kind.Spec(push_image_tag=e["push_image_tag"])
    packageable = xm.python_container(
        executor_spec=spec, path=e["python_container"], base_image=e["base_image"],
        entrypoint=xm.ModuleName(e["entrypoint"]), use_deep_module=True,
        docker_instructions=e["docker_instructions"], args=e["args"])
    executor = kind(requirements=requirements)
  [executable] = experiment_obj.package([packageable])
  experiment_obj.add(xm.Job(executable=executable, executor=executor))


def describe(job: Any) -> str:
  return (f"job: executor={type(job.executor).__name__} "
          f"requirements={dict(job.executor.requirements.task_requirements)}")


def main(argv: Sequence[str]) -> None:
  args = list(argv[1:])
  if args and args[0] == "--":
    args = args[1:]
  try:
    p = plan(_EXPERIMENT.value or "", _EXECUTOR.value, args, accelerator=_ACCELERATOR.value,
             count=_COUNT.value, base_image=_BASE_IMAGE.value, jax_extra=_JAX_EXTRA.value,
             push_image_tag=_PUSH.value)
    _xm()
  except (ValueError, ImportError) as e:
    sys.stderr.write(f"error: {e}\n")
    sys.exit(2)
  title = _TITLE.value or f"seqjax {p['experiment']}"
  print(f"{title}: {p['experiment']} on {p['executor']} "
        f"{p['requirements'] or '(CPU)'}; experiment args {p['args']}")
  if _DRY_RUN.value:
    from xmanager import xm_mock  # pylint: disable=g-import-not-at-top
    with xm_mock.MockExperiment() as mock:
      build(mock, p)
    for job in mock.launched_jobs:
      print(describe(job))
    for key, value in p["executable"].items():
      print(f"  {key}: {value}")
    return
  _, xm_local = _xm()
  with xm_local.create_experiment(experiment_title=title) as experiment:
    build(experiment, p)


if __name__ == "__main__":
  os.chdir(REPO)
  app.run(main)
