"""conv2d forward+backward at the document CNNs' shapes (batch 100, 28x28, float32).

NCHW vs torch CPU (F.conv2d + autograd) and NHWC vs TF CPU (tf.nn.conv2d under
tf.GradientTape inside a tf.function). Like the native side, ours computes dx only
where a real network needs it: not for the first layer (its input is the image).

    python benchmarks/bench_cpu.py conv2d           # wall time, every thread (the table)
    python benchmarks/cpu/conv2d.py [--threads 1] [--quick]   # CPU time (process_time), 1 thread each
The second is the yardstick on a machine whose cores are shared: CPU time does not count
the time a thread waits for a core; wall time on a busy machine measures the others' load.
"""

import pathlib
import statistics
import sys
import time

import numpy as np

if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import twincore.kernels as K
from harness import Case

# (name, C, O, stride, input needs a gradient)
SHAPES = [("conv 1->32 3x3 s1 same (CNN, Rotation CNN)", 1, 32, 1, False),
          ("conv 32->64 3x3 s2 same (CNN)", 32, 64, 2, True)]
N, H, W = 100, 28, 28


def _torch_cases(torch):
    import torch.nn.functional as F

    out = []
    for name, c, o, s, need_x in SHAPES:
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.standard_normal((N, c, H, W)).astype(np.float32))
        w = torch.from_numpy((rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32))
        b = torch.from_numpy(rng.standard_normal(o).astype(np.float32))
        g = torch.from_numpy(rng.standard_normal((N, o, -(-H // s), -(-W // s))).astype(np.float32))

        def ours(x=x, w=w, b=b, g=g, s=s, need_x=need_x):
            y = K.conv2d(x, w, b, stride=s, padding="same")
            return y, K.conv2d_backward(g, x, w, stride=s, padding="same", need_x=need_x, need_bias=True)

        def ref(x=x, w=w, b=b, g=g, s=s, need_x=need_x):
            xr = x.detach().requires_grad_(need_x)
            wr, br = w.detach().requires_grad_(), b.detach().requires_grad_()
            # TF's "same" for k=3 is a symmetric 1 here (stride 2 on 28 -> total pad 1: bottom/right)
            xp = F.pad(xr, (0, 1, 0, 1)) if s == 2 else xr
            y = F.conv2d(xp, wr, br, stride=s, padding=0 if s == 2 else 1)
            y.backward(g)
            return y, wr.grad

        out.append(Case(f"{name} fwd+bwd NCHW", f"{N}x{c}x{H}x{W} f32", ours, ref, "torch CPU", 0.8))
    return out


def _tf_cases():
    try:
        import tensorflow as tf
    except ImportError:
        return []
    out = []
    for name, c, o, s, need_x in SHAPES:
        rng = np.random.default_rng(0)
        x = tf.constant(rng.standard_normal((N, H, W, c)).astype(np.float32))
        w = tf.constant((rng.standard_normal((3, 3, c, o)) / np.sqrt(9 * c)).astype(np.float32))
        b = tf.constant(rng.standard_normal(o).astype(np.float32))
        g = tf.constant(rng.standard_normal((N, -(-H // s), -(-W // s), o)).astype(np.float32))

        @tf.function
        def native(x, w, b, g, s=s, need_x=need_x):
            with tf.GradientTape() as tape:
                tape.watch([x, w, b] if need_x else [w, b])
                y = tf.nn.conv2d(x, w, s, "SAME") + b
            # y is returned too, so that graph pruning cannot drop the forward pass
            return y, tape.gradient(y, [x, w, b] if need_x else [w, b], output_gradients=g)

        def ours(x=x, w=w, b=b, g=g, s=s, need_x=need_x):
            y = K.conv2d(x, w, b, stride=s, padding="same", layout="NHWC")
            return y, K.conv2d_backward(g, x, w, stride=s, padding="same", layout="NHWC", need_x=need_x,
                                     need_bias=True)

        def ref(x=x, w=w, b=b, g=g, native=native):
            return native(x, w, b, g)

        out.append(Case(f"{name} fwd+bwd NHWC", f"{N}x{H}x{W}x{c} f32", ours, ref, "TF CPU (tf.function)", 0.8))
    return out


def cases(torch):
    return _torch_cases(torch) + _tf_cases()


def _cpu_ms(fn, reps: int = 30) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times) * 1e3


def cpu_time_table(threads: int = 1, rounds: int = 3, reps: int = 30) -> None:
    """Median CPU time of ours and the native op, each limited to `threads` threads,
    interleaved for `rounds` rounds (the best round's median of each is shown)."""
    import torch
    import tensorflow as tf

    from twincore import _core

    _core.set_num_threads(threads)
    torch.set_num_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    print(f"conv2d fwd+bwd, CPU time (process_time), {threads} thread(s); twincore path {_core.cpu_isa()}")
    print("| op | ours (CPU ms) | reference | ref (CPU ms) | ratio ref/ours |\n|---|---:|---|---:|---:|")
    for c in cases(torch):
        times = [(_cpu_ms(c.ours, reps), _cpu_ms(c.ref, reps)) for _ in range(rounds)]
        ours, ref = min(t[0] for t in times), min(t[1] for t in times)
        print(f"| {c.op} | {ours:.2f} | {c.ref_name} | {ref:.2f} | {ref / ours:.2f}x |", flush=True)


if __name__ == "__main__":
    quick = "--quick" in sys.argv  # smoke run: one round of one call each
    cpu_time_table(int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1,
                   rounds=1 if quick else 3, reps=1 if quick else 30)
