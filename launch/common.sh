# Shared by the launch scripts: option parsing helpers and dry-run aware command execution.
# Source it; do not run it.

DRY_RUN=0
PYTHON="${PYTHON:-python}"
# Every experiment with a main.py (the scripts cd to the repository root before sourcing this).
TASKS="$(cd experiments && for m in */main.py; do printf '%s ' "${m%/main.py}"; done)"
TASKS="${TASKS% }"

# Prints the command, shell-quoted, as "+ cmd ..." (and runs it unless --dry_run).
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [[ "$DRY_RUN" == 0 ]]; then
    "$@"
  fi
}

die() {
  echo "$(basename "$0"): error: $*" >&2
  exit 2
}

check_task() {
  local task="$1"
  [[ -n "$task" ]] || die "no experiment given; usage: ${USAGE}"
  for t in $TASKS; do
    [[ "$t" == "$task" ]] && return 0
  done
  die "unknown experiment '$task'; choose from: $TASKS"
}

# The experiment command line: python -m experiments.<task>.main <flags...>, quoted for a
# remote shell.
experiment_command() {
  local task="$1"; shift
  local cmd
  cmd="$(printf '%q ' "$PYTHON" -m "experiments.${task}.main" "$@")"
  echo "${cmd% }"
}
