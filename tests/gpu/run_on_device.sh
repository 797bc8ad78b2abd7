#!/usr/bin/env bash
# `make gpu-check` on the workplace's lent GPU machine: no package index there and no .venv (python3 holds torch),
# so the wheels from `make gpu-wheels` travel in .whl/ and are installed beside the image's packages.
#   here:   make gpu-wheels
#   device: run(command="bash tests/gpu/run_on_device.sh", carry=[".whl"], timeout_s=560)
# Extra arguments go to tests/gpu_check.py. The log and the table land in $OUT (they come back) or /tmp. Rows are
# printed as they are measured; if one call cannot hold the tests and the table, run `--skip-tests` (the table)
# and `--tests-only` in two calls on the same warm machine.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu-check: installing the carried wheels failed (run make gpu-wheels here, carry .whl)"; exit 2; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 OMP_NUM_THREADS="$(nproc)" WANDB_MODE=offline
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, lightning, timm; print('torch', torch.__version__, 'lightning', lightning.__version__, 'timm', timm.__version__)" \
    | tee -a "$out/gpu.txt"
python3 tests/gpu_check.py --out "$out/gpu_check.md" "$@" 2>&1 | tee "$out/gpu_check.log"
exit "${PIPESTATUS[0]}"
