# Sourced by the one-shot device scripts (benchmarks/gpu_check.sh, experiments/vqa/gpu_run.sh):
# on the lent GPU machine, which has JAX, flax, optax and orbax but not the rest of seqjax's
# dependencies and no network, installs the carried wheels (.whl/, from
# benchmarks/fetch_gpu_wheels.sh) into /tmp/site and puts them and the repository on PYTHONPATH.
# Where the dependencies import already (here), it installs nothing. $1 names the caller in
# messages; a missing or failed install exits 3.
_device_env_who="${1:-device}"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import tensorflow_datasets, grain, ml_collections, tensorboardX" 2>/dev/null; then
  if ! compgen -G ".whl/*.whl" > /dev/null; then
    echo "$_device_env_who: seqjax's dependencies are missing and .whl/ holds no wheels (run" \
         "benchmarks/fetch_gpu_wheels.sh here and carry .whl)" >&2
    exit 3
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || { echo "$_device_env_who: installing .whl/ failed" >&2; exit 3; }
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
