#!/usr/bin/env bash
# Downloads the wheels the device machine's image lacks (benchmarks/gpu_wheels.txt) into .whl/,
# for its Python 3.12 on x86-64, so that benchmarks/gpu_check.sh can install them there without
# a network. Run it here, from the repository root, once per checkout:
#
#     bash benchmarks/fetch_gpu_wheels.sh
#
# .whl/ is kept out of git (.git/info/exclude); name it in the device tool's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
PLATFORMS=()
for p in manylinux_2_39_x86_64 manylinux_2_35_x86_64 manylinux_2_34_x86_64 manylinux_2_31_x86_64 \
         manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64 any; do
  PLATFORMS+=(--platform "$p")
done
PIP="${PIP:-python3 -m pip}"
while read -r req; do
  [[ -z "$req" || "$req" == \#* ]] && continue
  if [[ "$req" == promise==* ]]; then  # sdist only: a pure-Python wheel built here
    $PIP wheel -q --no-deps --no-binary=:all: -w .whl "$req"
    continue
  fi
  $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      "${PLATFORMS[@]}" -d .whl "$req"
done < benchmarks/gpu_wheels.txt
ls -1 .whl
du -sh .whl
