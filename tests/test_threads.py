"""`import twincore` keeps torch's idle OpenMP workers from spinning and gives TensorFlow one inter-op
thread (see twincore/_threads.py)."""
import os
import pathlib
import subprocess
import sys

import pytest

import twincore
from support import has

PKG = str(pathlib.Path(twincore.__file__).resolve().parents[1])

# CPU time (ns, from schedstat) burnt by threads other than the main one in the 100 ms
# after one torch parallel region, median of 10: idle OpenMP workers spinning.
PROBE = """
import os, statistics, sys, time
{first}
import torch
torch.set_num_threads(2)
me = os.getpid()
def others():
    tot = 0
    for t in os.listdir(f"/proc/{{me}}/task"):
        if int(t) != me:
            tot += int(open(f"/proc/{{me}}/task/{{t}}/schedstat").read().split()[0])
    return tot
x, burnt = torch.randn(1 << 20), []
for _ in range(10):
    time.sleep(0.05)
    x * 2
    c0 = others(); time.sleep(0.1); burnt.append(others() - c0)
print(os.environ.get("OMP_WAIT_POLICY"), statistics.median(burnt))
"""


def _run(code, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_WAIT_POLICY")}
    p = subprocess.run([sys.executable, "-c", code], env=dict(base, PYTHONPATH=PKG, **env),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout.split()


def test_defaults_set_and_user_choice_kept():
    code = ("import os, twincore; print(*(os.environ.get(k) for k in "
            "('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'KMP_BLOCKTIME')))")
    assert _run(code) == ["PASSIVE", "None", "0"]
    assert _run(code, GOMP_SPINCOUNT="123") == ["None", "123", "None"]
    assert _run(code, OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "None", "None"]
    assert _run(code, KMP_BLOCKTIME="200") == ["None", "None", "200"]


def test_tensorflow_gets_one_inter_op_thread_unless_the_user_chose():
    pytest.importorskip("tensorflow")
    # TF's inter-op workers are the "tf_Compute" threads, made at its first op.
    code = ("import os, keras, tensorflow as tf, twincore; tf.constant([1.0]) * 2; "
            "print(os.environ['TF_NUM_INTEROP_THREADS'], sum(open(f'/proc/self/task/{t}/comm').read().strip() "
            "== 'tf_Compute' for t in os.listdir('/proc/self/task')))")
    base = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTEROP_THREADS"}
    p = subprocess.run([sys.executable, "-c", code], env=dict(base, PYTHONPATH=PKG, TF_CPP_MIN_LOG_LEVEL="3"),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ["1", "1"]
    p = subprocess.run([sys.executable, "-c", code],
                       env=dict(base, PYTHONPATH=PKG, TF_CPP_MIN_LOG_LEVEL="3", TF_NUM_INTEROP_THREADS="2"),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ["2", "2"]


def test_status_names_a_runtime_loaded_first():
    pytest.importorskip("torch")
    code = "import torch, twincore._threads as t; print(t.openmp_spin_status())"
    assert "loaded before twincore" in " ".join(_run(code))
    code = "import twincore._threads as t, torch; print(t.openmp_spin_status())"
    assert " ".join(_run(code)) == "OpenMP spin: OMP_WAIT_POLICY=PASSIVE, KMP_BLOCKTIME=0"


@pytest.mark.skipif(not has("torch") or not os.path.exists("/proc/self/schedstat"), reason="needs torch and Linux")
def test_torch_workers_stop_spinning_soon():
    policy, burnt = _run(PROBE.format(first="import twincore"))
    assert policy == "PASSIVE"
    # passive workers sleep at once; the libgomp default spins 4-10 ms (300,000 pause loops)
    assert float(burnt) < 2e6, f"torch's idle OpenMP workers still ran {float(burnt) / 1e6:.1f} ms"
