#!/usr/bin/env bash
# `make gpu-check`: the GPU check anyone can run on a machine with an NVIDIA GPU, torch with
# CUDA, CuPy, nvcc and pybind11, and no network (issue 14). In under 9 minutes it
#   1. builds _core in place (src/twincore) for THIS GPU (CMAKE_CUDA_ARCHITECTURES=native);
#   2. runs the GPU tests (-m gpu) for both launchers (the nvcc build and CuPy's NVRTC);
#   3. runs compute-sanitizer memcheck over the GPU kernel tests;
#   4. runs benchmarks/bench_gpu.py (ratios vs cuBLAS / cuDNN / torch / Keras, one table);
# and prints one summary table. Logs go to $OUT (default build/gpu-check): build.txt,
# gpu_tests.txt, memcheck.txt, bench_gpu.txt, summary.md.
# Keras is optional (the Keras rows and tests skip without it); where it is not installed,
# wheels of keras, namex and optree in .whl/ are installed into a temporary folder first.
# Environment: PY (python3), OUT, GPU_BUILD (build/gpu), GPU_ARCH (native), GPU_CHECK_QUICK=1
# (smaller bench). Time limits per step: build 200 s, tests 120 s, memcheck 100 s, bench 100 s.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-python3}
OUT=${OUT:-$ROOT/build/gpu-check}
BUILD=${GPU_BUILD:-$ROOT/build/gpu}
mkdir -p "$OUT" "$BUILD"
export PYTHONUNBUFFERED=1 KERAS_BACKEND=torch TF_CPP_MIN_LOG_LEVEL=2
export PYTHONPATH="$ROOT/src:$ROOT/tests${PYTHONPATH:+:$PYTHONPATH}"
T0=$(date +%s)
SUMMARY=()
el() { echo "[t+$(( $(date +%s) - T0 ))s] $*"; }
# step NAME TIMEOUT LOG CMD...: runs CMD with a time limit, records rc and seconds.
step() {
  local name=$1 limit=$2 log=$3; shift 3
  local s=$(date +%s)
  el "$name (limit ${limit}s) -> $log"
  timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - s ))
  local what
  case $rc in
    0) what=ok ;;
    124|137) what="TIMED OUT" ;;
    *) what="rc=$rc" ;;
  esac
  local tail_line
  tail_line=$(grep -E "passed|failed|ERROR SUMMARY|error:|Error" "$log" | tail -1 | tr '|' '/' | cut -c1-110)
  SUMMARY+=("| $name | $what | $secs | ${tail_line:-} |")
  el "$name: $what in ${secs}s ${tail_line:-}"
  return $rc
}

nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not available"
if ! "$PY" -c "import keras" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/tc-gpu-site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/tc-gpu-site"
fi
"$PY" - <<'PYEOF'
import importlib.util as u
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
for m in ("cupy", "keras", "pybind11"):
    print(m, "yes" if u.find_spec(m) else "NO")
PYEOF

NVCC=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
step "build (nvcc, ${GPU_ARCH:-native} arch)" 200 "$OUT/build.txt" bash -c "
  cmake -S . -B '$BUILD' -G Ninja -DPython_EXECUTABLE=\"\$(command -v $PY)\" \
    -Dpybind11_DIR=\"\$($PY -m pybind11 --cmakedir)\" -DTWINCORE_CUDA=ON -DCMAKE_CUDA_COMPILER='$NVCC' \
    -DCMAKE_CUDA_ARCHITECTURES='${GPU_ARCH:-native}' -DTWINCORE_INPLACE_DIR='$ROOT/src/twincore' &&
  cmake --build '$BUILD' -j \$(nproc)"
BUILD_RC=$?
"$PY" -c "
from twincore import _core
print('with_cuda', getattr(_core, 'with_cuda', False), 'devices', _core.cuda_device_count() if getattr(_core, 'with_cuda', False) else 0,
      'gemm provider', _core.gemm_provider(), getattr(_core, 'cublaslt_info', lambda: {})())" 2>&1 | tee "$OUT/module.txt"

if [ $BUILD_RC -eq 0 ]; then
  # Every gpu-marked test; test_cuda parametrises the launchers (cuda = nvcc build, cupy = NVRTC).
  step "GPU tests, both launchers" 120 "$OUT/gpu_tests.txt" \
    "$PY" -m pytest -q -m gpu -p no:cacheprovider -rfEs --continue-on-collection-errors \
      tests
  step "compute-sanitizer memcheck" 100 "$OUT/memcheck.txt" \
    compute-sanitizer --tool memcheck --print-limit 10 --error-exitcode 3 \
      "$PY" -m pytest -q -x -m gpu -p no:cacheprovider tests/kernels/test_cuda.py tests/kernels/test_gemm_provider.py
else
  SUMMARY+=("| GPU tests, both launchers | skipped: the build failed | 0 | see build.txt |")
fi
QUICK=${GPU_CHECK_QUICK:+--quick}
step "benchmark (bench_gpu.py)" 100 "$OUT/bench_gpu.txt" "$PY" benchmarks/bench_gpu.py $QUICK

{
  echo "## make gpu-check: $(date -u +%Y-%m-%dT%H:%MZ), $(( $(date +%s) - T0 )) s"
  echo
  echo "| step | result | seconds | last line |"
  echo "|---|---|---:|---|"
  printf '%s\n' "${SUMMARY[@]}"
  echo
  grep -E "^(##|\|)" "$OUT/bench_gpu.txt" 2>/dev/null
  echo
  grep -E "^(FAILED|ERROR|SKIPPED)" "$OUT/gpu_tests.txt" 2>/dev/null | head -40
  grep -E "ERROR SUMMARY|Invalid|out of bounds" "$OUT/memcheck.txt" 2>/dev/null | head -10
} > "$OUT/summary.md"
echo
cat "$OUT/summary.md"
# non-zero when a step failed (speed never fails the check)
grep -qE "\| (rc=|TIMED OUT|skipped)" <(printf '%s\n' "${SUMMARY[@]:0:3}") && exit 1 || exit 0
