"""Strict settings for every test: rank promotion raises, 8 fake CPU devices, warnings error."""

import os

# Must precede the first `import jax` anywhere in the test session.
_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

import tensorflow_datasets as tfds  # noqa: E402

tfds.disable_progress_bar()

import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(name: str) -> pathlib.Path:
  """``../shared/data/<name>``, or skip the test with the reason."""
  path = SHARED_DATA / name
  if not path.is_dir():
    pytest.skip(f"real data not found at {path} (it lives in ../shared/data beside the repo)")
  return path


def write_ptb_like(directory: pathlib.Path, seed: int = 0, lines=(300, 40, 40)) -> None:
  """PTB-format text (one sentence per line, leading space) with a learnable pattern: word
  ``w{k+1}`` mostly follows ``w{k}``, over a 30-word vocabulary."""
  rng = np.random.default_rng(seed)
  directory.mkdir(parents=True, exist_ok=True)
  for split, n in zip(("train", "valid", "test"), lines):
    out = []
    for _ in range(n):
      k = rng.integers(30)
      words = []
      for _ in range(rng.integers(4, 12)):
        words.append(f"w{k}")
        k = (k + 1) % 30 if rng.random() < 0.9 else rng.integers(30)
      out.append(" " + " ".join(words) + " ")
    (directory / f"ptb.{split}.txt").write_text("\n".join(out) + "\n")


@pytest.fixture(scope="session")
def ptb_like(tmp_path_factory):
  """A generated PTB-format corpus and a TFDS data_dir of its own."""
  root = tmp_path_factory.mktemp("ptb_like")
  write_ptb_like(root / "raw")
  return {"manual_dir": str(root / "raw"), "data_dir": str(root / "tfds")}
