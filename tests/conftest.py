"""Strict settings for every test: rank promotion raises, 8 fake CPU devices, warnings error;
dtype promotion is strict in the tests of seqjax's own numerics (``STRICT_DTYPES``)."""

import os

# Must precede the first `import jax` anywhere in the test session.
_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

import gc  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

import tensorflow_datasets as tfds  # noqa: E402

tfds.disable_progress_bar()

import pathlib  # noqa: E402

import pytest  # noqa: E402

from tests.fakes.data import (  # noqa: E402  (the fixtures' data)
    write_conllu_like, write_diginetica_like, write_multi30k_like, write_ptb_like,
    write_sst2_like)

# Tests whose code runs under jax_numpy_dtype_promotion="strict": no implicit float64/bf16/int
# mixing anywhere in the cells, the recurrence, the models, masks, attention, decoding, metrics
# and the data pipeline. The trainer's tests run with standard promotion, since optax's own
# schedules mix Python floats with int32 steps.
STRICT_DTYPES = ("tests/cells/", "tests/recurrence/", "tests/nn/", "tests/interop/",
                 "tests/data/", "tests/test_")


@pytest.fixture(autouse=True)
def _strict_dtype_promotion(request):
  path = pathlib.Path(str(request.node.fspath)).resolve()
  rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else ""
  if rel.startswith(STRICT_DTYPES):
    with jax.numpy_dtype_promotion("strict"):
      yield
  else:
    yield


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
  """Drops JAX's compiled executables after each test module. Each one holds a few memory
  mappings of its machine code; kept for the whole session (thousands of executables), they
  reach the kernel's limit of 65,530 mappings per process (``vm.max_map_count``), and the next
  compilation dies with a segmentation fault inside XLA (seen in CI at 93% of the suite)."""
  yield
  jax.clear_caches()
  gc.collect()


SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(name: str) -> pathlib.Path:
  """``../shared/data/<name>``, or skip the test with the reason."""
  path = SHARED_DATA / name
  if not path.is_dir():
    pytest.skip(f"real data not found at {path} (it lives in ../shared/data beside the repo)")
  return path


@pytest.fixture(scope="session")
def ptb_like(tmp_path_factory):
  """A generated PTB-format corpus and a TFDS data_dir of its own."""
  root = tmp_path_factory.mktemp("ptb_like")
  write_ptb_like(root / "raw")
  return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}


@pytest.fixture(scope="session")
def sst2_like(tmp_path_factory):
  """A generated SST-2-format dataset and a TFDS data_dir of its own."""
  root = tmp_path_factory.mktemp("sst2_like")
  write_sst2_like(root / "raw")
  return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}


@pytest.fixture(scope="session")
def multi30k_like(tmp_path_factory):
  """A generated Multi30k-format corpus and a TFDS data_dir of its own."""
  root = tmp_path_factory.mktemp("multi30k_like")
  write_multi30k_like(root / "raw")
  return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}


@pytest.fixture(scope="session")
def conllu_like(tmp_path_factory):
  """A generated EWT-format treebank and a TFDS data_dir of its own."""
  root = tmp_path_factory.mktemp("conllu_like")
  write_conllu_like(root / "raw")
  return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}


@pytest.fixture(scope="session")
def diginetica_like(tmp_path_factory):
  """A generated DIGINETICA-format log and a TFDS data_dir of its own."""
  root = tmp_path_factory.mktemp("diginetica_like")
  write_diginetica_like(root / "raw")
  return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}


REPO = pathlib.Path(__file__).resolve().parents[1]


def assert_one_line_error(module: str, args, message: str) -> None:
  """Runs ``python -m module *args``: it must exit with 2 and print exactly one ``error:`` line
  holding ``message`` (the experiments' promise for bad flags, keys and paths)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr


SLOW_LIST = REPO / "tests" / "slow.txt"  # $SEQJAX_SLOW_LIST replaces it (tests/test_slowlist.py)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
  """Marks ``slow`` every test listed in ``tests/slow.txt`` (measured over 2.5 s; written by
  ``python -m tests.slowlist``), before ``-m`` selects. A line naming no collected test of a
  module that was collected whole is an error naming the line, so the list cannot go stale
  silently (a renamed test would otherwise fall back into the default run unnoticed)."""
  from tests import slowlist  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(os.environ.get("SEQJAX_SLOW_LIST") or SLOW_LIST)
  try:
    listed = slowlist.read(path)
  except ValueError as e:
    raise pytest.UsageError(str(e)) from None
  for nodeid, number in listed.items():  # a file renamed or deleted: stale wherever one runs
    if not (REPO / nodeid.split("::")[0]).is_file():
      raise pytest.UsageError(f"{path.name} line {number}: no file {nodeid.split('::')[0]!r} "
                              "(renamed? rerun `python -m tests.slowlist` or edit the line)")
  by_id = {item.nodeid: item for item in items}
  for nodeid in listed:
    if nodeid in by_id:
      by_id[nodeid].add_marker(pytest.mark.slow)
  # Staleness is judged only for whole modules: naming single tests (``file::test``) or
  # ``-k`` collects part of a module.
  if config.getoption("keyword") or any("::" in str(a) for a in config.args):
    return
  modules = {item.nodeid.split("::")[0] for item in items}
  for nodeid, number in listed.items():
    if nodeid.split("::")[0] in modules and nodeid not in by_id:
      raise pytest.UsageError(f"{path.name} line {number}: no test {nodeid!r} (renamed? "
                              "rerun `python -m tests.slowlist` or edit the line)")
