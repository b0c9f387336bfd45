#!/usr/bin/env bash
# The one-shot GPU check: everything the first GPU session must measure, in one command, from
# the repository root, writing a results table and the raw numbers under $OUT.
#
#   here, once:       bash benchmarks/fetch_gpu_wheels.sh        (the wheels the image lacks)
#   on the device:    bash benchmarks/gpu_check.sh                (device tool: carry [".whl"])
#   dry run (CPU):    OUT=/tmp/out bash benchmarks/gpu_check.sh --dry-run
#
# It installs the carried wheels (.whl/, if present) into /tmp/site, then runs
# benchmarks/gpu_check.py (see its docstring for the steps and the time they take).
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
PYTHON="${PYTHON:-python3}"
# The carried wheels, only where seqjax's dependencies are missing (the device image).
if ! "$PYTHON" -c "import tensorflow_datasets, grain, ml_collections, tensorboardX" 2>/dev/null; then
  if ! compgen -G ".whl/*.whl" > /dev/null; then
    echo "gpu_check: seqjax's dependencies are missing and .whl/ holds no wheels (run" \
         "benchmarks/fetch_gpu_wheels.sh here and carry .whl)" >&2
    exit 3
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || { echo "gpu_check: installing .whl/ failed" >&2; exit 3; }
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$PYTHON" -m benchmarks.gpu_check --out "$OUT" "$@"
