#!/usr/bin/env bash
# The GPU check of issue 15 in one command (docs/gpu.md). Reports go to $OUT (the device tool sets it).
#   bash benchmarks/gpu_check.sh             on the device: ~8 minutes, one call
#   bash benchmarks/gpu_check.sh --dry-run   on any CPU: every step on tiny shapes (tests/test_gpu_check.py)
# Other flags pass through to benchmarks/gpu_check.py (--steps, --budget STEP=S, --pretrain-minutes M).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
out=${OUT:-results/gpu-check}
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
# The checkout is not installed there: genomamba imports from the tree, genomamba_kernels from kernels/.
ln -s "$PWD/kernels" "$site/genomamba_kernels"
# Wheels carried in results/gpu-prep/whl (e.g. polars, docs/gpu.md) go into the same throw-away folder.
if compgen -G "results/gpu-prep/whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
        results/gpu-prep/whl/*.whl || { echo "gpu_check.sh: installing the carried wheels failed" >&2; exit 2; }
fi
export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" benchmarks/gpu_check.py --out "$out" "$@"
