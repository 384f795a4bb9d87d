"""The core's thread pool (cpp/core/parallel.cc): many short parallel regions started from
several Python threads at once (the kernels release the GIL, and TensorFlow runs graph-mode
crossings on several threads) must neither hang nor mix up the chunks of two regions."""
import subprocess
import sys
import textwrap


def test_regions_from_many_threads_in_a_subprocess():
    script = textwrap.dedent("""
        import threading
        import numpy as np
        import twincore.kernels as K
        from twincore import _core
        _core.set_num_threads(3)  # more workers than cores: late wake-ups are common
        rng = np.random.default_rng(0)
        a = rng.standard_normal((100, 3136)).astype(np.float32)
        w = rng.standard_normal((3136, 64)).astype(np.float32)
        x = rng.standard_normal(1 << 16).astype(np.float32)
        want_mm, want_relu = a.astype(np.float64) @ w, np.maximum(x, 0)
        bad = []
        def hammer(seed):
            for i in range(1500):
                if (i + seed) % 2:
                    got = K.matmul(a, w)
                    if not np.allclose(got, want_mm, rtol=1e-4, atol=1e-3):
                        bad.append("matmul")
                elif not np.array_equal(K.relu(x), want_relu):
                    bad.append("relu")
        threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("bad", len(bad))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bad 0" in proc.stdout, proc.stdout
