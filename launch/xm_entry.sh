#!/usr/bin/env bash
# The local XManager executable (launch/xm_launch.py --executor=local): runs experiment $1's
# main.py from this checkout with the remaining arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; shift
exec "${PYTHON:-python}" -m "experiments.${name}.main" "$@"
