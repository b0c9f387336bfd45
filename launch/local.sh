#!/usr/bin/env bash
# Runs an experiment on this machine: every local device (GPU, TPU or CPU), optionally as
# several processes on localhost (the multi-host code path, through jax.distributed).
#
#   launch/local.sh [--dry_run] [--cpu_devices N] [--processes P] [--port PORT] \
#       <experiment: any experiments/<name>/ with a main.py> --config=... --workdir=... [--config.x=y ...]
#
#   --cpu_devices N  N fake CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=N)
#   --processes P    P processes with JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT, JAX_NUM_PROCESSES
#                    and JAX_PROCESS_ID; process 0's log streams here, the others go to
#                    <workdir>/process_<i>.log
#   --dry_run        print the commands, run nothing
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/common.sh
USAGE="launch/local.sh [--dry_run] [--cpu_devices N] [--processes P] [--port PORT] <task> <flags...>"

CPU_DEVICES=0
PROCESSES=1
PORT=12355
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry_run) DRY_RUN=1; shift ;;
    --cpu_devices) CPU_DEVICES="${2:?--cpu_devices needs a value}"; shift 2 ;;
    --cpu_devices=*) CPU_DEVICES="${1#*=}"; shift ;;
    --processes) PROCESSES="${2:?--processes needs a value}"; shift 2 ;;
    --processes=*) PROCESSES="${1#*=}"; shift ;;
    --port) PORT="${2:?--port needs a value}"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    -h|--help) echo "usage: $USAGE"; exit 0 ;;
    --*) die "unknown option $1; usage: $USAGE" ;;
    *) break ;;
  esac
done
[[ "$CPU_DEVICES" =~ ^[0-9]+$ ]] || die "--cpu_devices must be a number; got '$CPU_DEVICES'"
[[ "$PROCESSES" =~ ^[1-9][0-9]*$ ]] || die "--processes must be a positive number; got '$PROCESSES'"
[[ "$PORT" =~ ^[1-9][0-9]*$ ]] || die "--port must be a port number; got '$PORT'"
TASK="${1:-}"
check_task "$TASK"
shift

ENV=()
if [[ "$CPU_DEVICES" -gt 0 ]]; then
  ENV+=("XLA_FLAGS=--xla_force_host_platform_device_count=${CPU_DEVICES}" "JAX_PLATFORMS=cpu")
fi

if [[ "$PROCESSES" == 1 ]]; then
  run env "${ENV[@]}" "$PYTHON" -m "experiments.${TASK}.main" "$@"
  exit 0
fi

WORKDIR=""
for arg in "$@"; do
  [[ "$arg" == --workdir=* ]] && WORKDIR="${arg#--workdir=}"
done
[[ -n "$WORKDIR" ]] || die "--processes needs --workdir=DIR (the other processes log there)"
run mkdir -p "$WORKDIR"
PIDS=()
for ((i = PROCESSES - 1; i >= 0; i--)); do
  DIST=("JAX_COORDINATOR_ADDRESS=127.0.0.1:${PORT}" "JAX_NUM_PROCESSES=${PROCESSES}"
        "JAX_PROCESS_ID=${i}")
  if [[ "$i" == 0 ]]; then
    run env "${ENV[@]}" "${DIST[@]}" "$PYTHON" -m "experiments.${TASK}.main" "$@" || status=$?
  else
    printf '+ (background, log %s/process_%s.log)' "$WORKDIR" "$i"
    printf ' %q' env "${ENV[@]}" "${DIST[@]}" "$PYTHON" -m "experiments.${TASK}.main" "$@"
    printf '\n'
    if [[ "$DRY_RUN" == 0 ]]; then
      env "${ENV[@]}" "${DIST[@]}" "$PYTHON" -m "experiments.${TASK}.main" "$@" \
          > "${WORKDIR}/process_${i}.log" 2>&1 &
      PIDS+=($!)
    fi
  fi
done
for pid in "${PIDS[@]}"; do
  wait "$pid" || status=$?
done
exit "${status:-0}"
