#!/usr/bin/env bash
# The GPU checks, for a session lent a machine with a CUDA GPU (not part of CI: there is
# none there). About 8 minutes at most, each step under its own time limit:
#   1. the gpu extra installed (skipped where CuPy already imports; a failure to install,
#      e.g. offline, is reported and the checks that follow say what is missing);
#   2. every test parametrized over backends, on CuPy (-k cupy; -ra shows any skip reason);
#   3. benchmarks/bench_gpu.py: training run-steps/s of 8/256/1024 runs and a 401×401 slice
#      on CuPy against NumPy on the same machine, with the ratios.
#
#   tools/gpu_check.sh            # all three, output also kept in $OUT/gpu_check.log (or /tmp)
#   GPU_CHECK_QUICK=1 tools/gpu_check.sh   # a smoke run: short bouts, a 101×101 slice
#   GPU_CHECK_NO_INSTALL=1 tools/gpu_check.sh   # use what is installed, ask no registry
set -uo pipefail
cd "$(dirname "$0")/.."
exec > >(tee "${OUT:-/tmp}/gpu_check.log") 2>&1
status=0

echo "== 1. install (gpu, dev extras)"
if python -c "import cupy" 2>/dev/null; then
    echo "CuPy already imports: $(python -c 'import cupy; print(cupy.__version__)')"
elif [[ -n "${GPU_CHECK_NO_INSTALL:-}" ]]; then
    echo "CuPy is not installed and GPU_CHECK_NO_INSTALL is set: nothing installed"
else
    timeout 180 python -m pip install -q --retries 1 --timeout 10 -e ".[gpu,dev]" \
        || echo "could not install the gpu extra (offline?): the CuPy tests will be skipped"
fi
python - <<'PY'
from engine.backend import select_backend
try:
    print(select_backend("cupy", "float32").describe())
except RuntimeError as exc:
    print(exc)
PY
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

echo "== 2. tests on CuPy"
timeout 240 python -m pytest -q -ra -p no:cacheprovider -k cupy \
    tests/engine/test_optim.py tests/engine/test_mlp.py tests/engine/test_backend.py \
    || status=1

echo "== 3. bench_gpu.py"
quick=()
[[ -n "${GPU_CHECK_QUICK:-}" ]] && quick=(--quick)
timeout 240 python benchmarks/bench_gpu.py "${quick[@]}" || status=1

echo "== gpu_check: $([[ $status == 0 ]] && echo passed || echo FAILED)"
exit $status
