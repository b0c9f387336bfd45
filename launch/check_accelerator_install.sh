#!/usr/bin/env bash
# On demand (downloads GBs; not a test): installs seqjax with each accelerator build of JAX the
# README gives (jax[tpu], jax[cuda12]) into a fresh virtual environment, then imports seqjax and
# initialises a small model. On a machine without the accelerator JAX falls back to the CPU,
# so this checks the install lines and the imports, not the accelerator.
#   launch/check_accelerator_install.sh [tpu] [cuda12]
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
extras=("${@:-tpu cuda12}")
for extra in ${extras[@]}; do
  venv="$(mktemp -d)/venv"
  python3 -m venv "$venv"
  start=$(date +%s)
  "$venv/bin/pip" install -q -e "$repo" "jax[$extra]" > "$venv.log" 2>&1
  rc=$?
  echo "jax[$extra]: pip install rc $rc in $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)"
  "$venv/bin/python" - "$extra" <<'PY' 2>/dev/null
import sys
import jax, jax.numpy as jnp
from seqjax.nn.rnn import DeepRNN, RNNSpec
params = DeepRNN(RNNSpec(cell="lstm", hidden_size=4)).init(jax.random.key(0), jnp.ones((1, 2, 3)))
print(f"jax[{sys.argv[1]}]: import and model init OK; jax {jax.__version__} on "
      f"{jax.default_backend()} ({jax.devices()[0]})")
PY
  rm -rf "$(dirname "$venv")"
done
