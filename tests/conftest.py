"""Strict settings for every test: rank promotion raises, 8 fake CPU devices, warnings error."""

import os

# Must precede the first `import jax` anywhere in the test session.
_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
