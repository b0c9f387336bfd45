"""One process of a multi-process training run, started by ``test_parallel.py``:

    JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=i \\
    XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
        python -m tests.train.multidevice <lm|sentiment> <manual_dir> <data_dir> <workdir>

It trains the tiny config of the task (``tests.train.test_parallel.config``) on every device of
every process (``seqjax.parallel.initialize`` reads the environment); the test reads the losses
and the checkpoint from the workdir. Without the ``JAX_*`` variables it is a one-process run.
"""

from __future__ import annotations

import sys

import jax


def main(argv: list[str]) -> None:
  from tests.train import test_parallel  # pylint: disable=g-import-not-at-top
  task, manual_dir, data_dir, workdir = argv[1:5]
  c = test_parallel.config(task, {"manual_dir": manual_dir, "data_dir": data_dir}, -1,
                           test_parallel.STEPS)
  test_parallel.trainer(task).train_and_evaluate(c, workdir, log=lambda _: None)
  print(f"process {jax.process_index()} of {jax.process_count()}: {jax.device_count()} devices,"
        " done", flush=True)


if __name__ == "__main__":
  main(sys.argv)
