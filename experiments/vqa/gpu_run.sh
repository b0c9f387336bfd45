#!/usr/bin/env bash
# Sort-of-CLEVR on a lent GPU, in one command: the Relation Network at the paper's sizes and the
# CNN+MLP, each trained for a wall-clock budget and scored on the test set; results under $OUT.
#
#   here, once:       bash benchmarks/fetch_gpu_wheels.sh        (the wheels the image lacks)
#   on the device:    bash experiments/vqa/gpu_run.sh            (device tool: carry [".whl"],
#                                                                 timeout 600 s)
#   dry run (CPU):    OUT=/tmp/out bash experiments/vqa/gpu_run.sh --dry-run
#
# See experiments/vqa/gpu_run.py for the steps, their budgets and what lands in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
source launch/device_env.sh vqa_gpu_run
exec "$PYTHON" -m experiments.vqa.gpu_run --out "$OUT" "$@"
