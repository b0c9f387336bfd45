#!/usr/bin/env bash
# Runs an experiment on every worker of a Cloud TPU VM (one process per host; JAX finds the
# other hosts itself, and seqjax.parallel puts the data axis over every chip).
#
#   launch/tpu_vm.sh --name=NAME --zone=ZONE [--accelerator=v4-32] [--version=VERSION] \
#       [--project=PROJECT] [--create] [--skip_install] [--dry_run] \
#       <experiment: any experiments/<name>/ with a main.py> --config=... --workdir=/mnt/shared/run [...]
#
# Steps (each printed before it runs; --dry_run prints them only):
#   1. describe the TPU VM; with --create, create it when it does not exist
#   2. pack this checkout (without .git, .venv, runs) and copy it to every worker
#   3. unpack and install seqjax with jax[tpu] on every worker (skip with --skip_install)
#   4. run the experiment on all workers at once; their output streams here
# The workdir must be a directory every worker mounts (NFS, Filestore): gs:// workdirs are
# refused until seqjax's checkpoint seal, lock and records go through a remote filesystem
# layer. Data directories (--config.data.manual_dir) must exist on every worker.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/common.sh
USAGE="launch/tpu_vm.sh --name=NAME --zone=ZONE [--accelerator=TYPE] [--version=V] [--project=P] [--create] [--skip_install] [--dry_run] <task> <flags...>"

NAME=""; ZONE=""; ACCELERATOR="v4-32"; VERSION="tpu-ubuntu2204-base"; PROJECT=""
CREATE=0; INSTALL=1; REMOTE_DIR="seqjax"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry_run) DRY_RUN=1; shift ;;
    --create) CREATE=1; shift ;;
    --skip_install) INSTALL=0; shift ;;
    --name=*) NAME="${1#*=}"; shift ;;
    --zone=*) ZONE="${1#*=}"; shift ;;
    --accelerator=*) ACCELERATOR="${1#*=}"; shift ;;
    --version=*) VERSION="${1#*=}"; shift ;;
    --project=*) PROJECT="${1#*=}"; shift ;;
    -h|--help) echo "usage: $USAGE"; exit 0 ;;
    --*) die "unknown option $1; usage: $USAGE" ;;
    *) break ;;
  esac
done
[[ -n "$NAME" ]] || die "--name=NAME (the TPU VM) is required"
[[ -n "$ZONE" ]] || die "--zone=ZONE is required"
TASK="${1:-}"
check_task "$TASK"
shift

GCLOUD=(gcloud compute tpus tpu-vm)
WHERE=("--zone=${ZONE}")
[[ -n "$PROJECT" ]] && WHERE+=("--project=${PROJECT}")

# 1. The VM.
if [[ "$DRY_RUN" == 1 ]]; then
  run "${GCLOUD[@]}" describe "$NAME" "${WHERE[@]}"
  [[ "$CREATE" == 1 ]] && run "${GCLOUD[@]}" create "$NAME" "${WHERE[@]}" \
      "--accelerator-type=${ACCELERATOR}" "--version=${VERSION}"
elif ! run "${GCLOUD[@]}" describe "$NAME" "${WHERE[@]}" > /dev/null; then
  [[ "$CREATE" == 1 ]] || die "TPU VM '$NAME' not found in $ZONE; pass --create to create it"
  run "${GCLOUD[@]}" create "$NAME" "${WHERE[@]}" "--accelerator-type=${ACCELERATOR}" \
      "--version=${VERSION}"
fi

# 2. The code.
ARCHIVE="${TMPDIR:-/tmp}/seqjax-${NAME}.tgz"
run tar czf "$ARCHIVE" --exclude=.git --exclude=.venv --exclude=runs --exclude='*.egg-info' \
    seqjax experiments launch pyproject.toml setup.cfg README.md
run "${GCLOUD[@]}" scp "$ARCHIVE" "${NAME}:seqjax.tgz" "${WHERE[@]}" --worker=all

# 3. Install on every worker.
UNPACK="mkdir -p ${REMOTE_DIR} && tar xzf seqjax.tgz -C ${REMOTE_DIR}"
if [[ "$INSTALL" == 1 ]]; then
  UNPACK="${UNPACK} && cd ${REMOTE_DIR} && pip install -q -e '.[gcs]' 'jax[tpu]'"
fi
run "${GCLOUD[@]}" ssh "$NAME" "${WHERE[@]}" --worker=all "--command=${UNPACK}"

# 4. Run everywhere; the output of every worker streams back.
RUN="cd ${REMOTE_DIR} && $(experiment_command "$TASK" "$@")"
run "${GCLOUD[@]}" ssh "$NAME" "${WHERE[@]}" --worker=all "--command=${RUN}"
