#!/usr/bin/env bash
# Runs an experiment as one process per GPU host, through jax.distributed (each process uses
# every GPU of its host; seqjax.parallel puts the data axis over all of them).
#
# Over ssh, from any machine that reaches the hosts (the code at the same path on each):
#   launch/gpu_multihost.sh --hosts=h0,h1[,...] [--port=12355] [--dir=/path/to/seqjax] \
#       [--dry_run] <experiment: any experiments/<name>/ with a main.py> --config=... --workdir=/shared/run
# Under SLURM (one task per node; JAX reads the SLURM variables itself):
#   launch/gpu_multihost.sh --slurm --nodes=2 [--gpus_per_node=8] [--dry_run] <task> <flags...>
# By hand, on each host i of N:
#   launch/gpu_multihost.sh --coordinator=h0:12355 --num_processes=N --process_id=i <task> ...
#
# The workdir must be on storage every host sees (NFS, or gs://); process 0 writes the logs and
# metrics, every process writes its checkpoint shards.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/common.sh
USAGE="launch/gpu_multihost.sh (--hosts=h0,h1,... [--port=P] [--dir=D] | --slurm --nodes=N [--gpus_per_node=G] | --coordinator=H:P --num_processes=N --process_id=I) [--dry_run] <task> <flags...>"

HOSTS=""; PORT=12355; DIR="$(pwd)"; SLURM=0; NODES=0; GPUS=8
COORDINATOR=""; NUM_PROCESSES=""; PROCESS_ID=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry_run) DRY_RUN=1; shift ;;
    --hosts=*) HOSTS="${1#*=}"; shift ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --dir=*) DIR="${1#*=}"; shift ;;
    --slurm) SLURM=1; shift ;;
    --nodes=*) NODES="${1#*=}"; shift ;;
    --gpus_per_node=*) GPUS="${1#*=}"; shift ;;
    --coordinator=*) COORDINATOR="${1#*=}"; shift ;;
    --num_processes=*) NUM_PROCESSES="${1#*=}"; shift ;;
    --process_id=*) PROCESS_ID="${1#*=}"; shift ;;
    -h|--help) echo "usage: $USAGE"; exit 0 ;;
    --*) die "unknown option $1; usage: $USAGE" ;;
    *) break ;;
  esac
done
TASK="${1:-}"
check_task "$TASK"
shift
[[ "$PORT" =~ ^[1-9][0-9]*$ ]] || die "--port must be a port number; got '$PORT'"
[[ "$GPUS" =~ ^[1-9][0-9]*$ ]] || die "--gpus_per_node must be a positive number; got '$GPUS'"
modes=$(( (${#HOSTS} > 0) + SLURM + (${#COORDINATOR} > 0) ))
[[ "$modes" == 1 ]] || die "choose exactly one of --hosts, --slurm or --coordinator; usage: $USAGE"

if [[ "$SLURM" == 1 ]]; then
  [[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "--slurm needs --nodes=N (a positive number)"
  run srun "--nodes=${NODES}" --ntasks-per-node=1 "--gpus-per-node=${GPUS}" \
      "$PYTHON" -m "experiments.${TASK}.main" "$@"
  exit 0
fi

if [[ -n "$COORDINATOR" ]]; then
  [[ "$NUM_PROCESSES" =~ ^[1-9][0-9]*$ ]] || die "--coordinator needs --num_processes=N"
  [[ "$PROCESS_ID" =~ ^[0-9]+$ ]] || die "--coordinator needs --process_id=I"
  (( PROCESS_ID < NUM_PROCESSES )) || die "--process_id=$PROCESS_ID must be < --num_processes=$NUM_PROCESSES"
  run env "JAX_COORDINATOR_ADDRESS=${COORDINATOR}" "JAX_NUM_PROCESSES=${NUM_PROCESSES}" \
      "JAX_PROCESS_ID=${PROCESS_ID}" "$PYTHON" -m "experiments.${TASK}.main" "$@"
  exit 0
fi

IFS=, read -r -a HOST_LIST <<< "$HOSTS"
N=${#HOST_LIST[@]}
COORD="${HOST_LIST[0]}:${PORT}"
PIDS=()
for ((i = 0; i < N; i++)); do
  REMOTE="cd $(printf '%q' "$DIR") && JAX_COORDINATOR_ADDRESS=${COORD} JAX_NUM_PROCESSES=${N} JAX_PROCESS_ID=${i} $(experiment_command "$TASK" "$@")"
  if [[ "$DRY_RUN" == 1 ]]; then
    run ssh "${HOST_LIST[$i]}" "$REMOTE"
  else
    # Every host's lines come back prefixed with its index.
    run ssh "${HOST_LIST[$i]}" "$REMOTE" 2>&1 | sed -u "s/^/[${i}] /" &
    PIDS+=($!)
  fi
done
status=0
for pid in "${PIDS[@]}"; do
  wait "$pid" || status=$?
done
exit "$status"
