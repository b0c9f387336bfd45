"""Installs the fake gs:// of ``tests.fakes.gcs`` in a child process started with
``tests.fakes.gcs.env(root)``."""
import os

if os.environ.get("SEQJAX_FAKE_GCS_ROOT"):
  from tests.fakes import gcs
  gcs.install(os.environ["SEQJAX_FAKE_GCS_ROOT"])
