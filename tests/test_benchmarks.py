"""Every benchmark runs against the twincore the tests use (after `make install`, the
installed package: no PYTHONPATH=src, no extra step), with its --quick smoke option."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

import twincore
from support import SANITIZE, has

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
ENTRIES = [  # (script, arguments, modules it needs)
    ("bench_cpu.py", ["--quick"], ["torch"]),
    ("bench_torch.py", ["--quick", "--no-append"], ["torch"]),
    ("bench_tape.py", ["--quick"], ["torch", "tensorflow", "keras"]),
    ("bench_keras.py", ["--quick"], ["tensorflow", "keras"]),
    ("bench_gpu.py", ["--quick"], ["torch"]),
    ("cpu/conv2d.py", ["--quick"], ["torch", "tensorflow"]),
    # issue 15's per-call, GEMM, CE and dense probes (print only)
    ("percall_breakdown.py", ["--quick"], ["torch"]),
    ("gemm_ratio.py", ["--quick"], []),
    ("ce_ratio.py", ["--quick"], ["torch"]),
    ("dense_ratio.py", ["--quick"], ["torch"]),
    ("cnn_ops.py", ["--quick"], ["torch"]),
    ("cnn_ops.py", ["--quick", "--tf", "--cpu-time"], ["torch", "tensorflow"]),
    ("convt_ratio.py", ["--quick"], ["torch"]),  # issue 16's conv_transpose2d probe
]


def test_no_benchmark_imports_the_source_tree():
    # A fresh clone's src/twincore has no compiled _core: a benchmark that puts src/ first on
    # sys.path fails after `make install` (ImportError: cannot import name '_core').
    for path in sorted(BENCH.rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"sys\.path\.(insert|append)\([^)]*[\"']src[\"']", text), \
            f"{path.relative_to(BENCH)} puts the source tree on sys.path"


@pytest.mark.skipif(SANITIZE, reason="torch/TF are not run under the sanitizer")
@pytest.mark.parametrize("script,args,needs", ENTRIES, ids=[e[0] for e in ENTRIES])
def test_benchmark_runs(script, args, needs, tmp_path):
    missing = [m for m in needs if not has(m)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    # The package the tests import, and nothing from the checkout ahead of it; cwd elsewhere.
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(twincore.__file__).resolve().parents[1]),
               TF_CPP_MIN_LOG_LEVEL="2")
    results = BENCH / "RESULTS.md"
    before = results.stat().st_mtime_ns if results.exists() else None
    p = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{script} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert "|" in p.stdout or "no CUDA device" in p.stdout, p.stdout[-2000:]  # printed its table
    after = results.stat().st_mtime_ns if results.exists() else None
    assert before == after, f"{script} --quick wrote to RESULTS.md"
