#!/usr/bin/env bash
# The one-shot GPU check: everything the first GPU session must measure, in one command, from
# the repository root, writing a results table and the raw numbers under $OUT.
#
#   here, once:       bash benchmarks/fetch_gpu_wheels.sh        (the wheels the image lacks)
#   on the device:    bash benchmarks/gpu_check.sh                (device tool: carry [".whl"])
#   dry run (CPU):    OUT=/tmp/out bash benchmarks/gpu_check.sh --dry-run
#
# It installs the carried wheels (.whl/, if present) into /tmp/site (launch/device_env.sh),
# then runs benchmarks/gpu_check.py (see its docstring for the steps and the time they take).
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
source launch/device_env.sh gpu_check
exec "$PYTHON" -m benchmarks.gpu_check --out "$OUT" "$@"
