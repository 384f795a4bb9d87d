"""The document CNN's training step, op by op: our kernels vs torch's own ops on the same
shapes (NCHW, the torch bench's step), forward and backward, side by side in one process.

    python benchmarks/cnn_ops.py [--quick] [--threads N] [--rounds R] [--only SUBSTR] [--cpu-time] [--tf]

Shapes are those of one step of bench_torch.py's CNN at batch 100 (conv 1->32 3x3 s1 same,
relu, conv 32->64 3x3 s2 same, relu, maxpool 2, dense 3136->64, relu, dense 64->10, softmax
cross-entropy, Adam over all parameters). Each row calls the kernel layer (twincore.kernels,
torch tensors in and out by DLPack) against the aten op torch.nn runs for it. Prints only
(medians of alternating rounds, ratio = torch / ours, > 1 means ours is faster). The last row is the
whole step of bench_torch.py (our modules + Adam vs torch.nn + optim.Adam). --cpu-time times
process CPU time instead of wall time (use with --threads 1 on a loaded machine: another
engineer's job then inflates wall time, much less the CPU time of one thread).
--tf: the Keras side instead: our NHWC kernels (numpy in and out, no bridge) vs the TF ops
Keras's own layers run (tf.function, oneDNN where TF has it), conv layers with their fused relu.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402  (imports twincore first)
from harness import Case, quick_flag  # noqa: E402


def cases(torch, K, only: str = ""):
    F = torch.nn.functional
    aten = torch.ops.aten
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    N = 100
    x = r(N, 1, 28, 28)
    w1, b1 = r(32, 1, 3, 3) * 0.3, r(32) * 0.1
    w2, b2 = r(64, 32, 3, 3) * 0.06, r(64) * 0.1
    y1 = F.relu(F.conv2d(x, w1, b1, padding=1))
    g1 = r(N, 32, 28, 28)
    y2 = F.relu(F.conv2d(y1, w2, b2, stride=2, padding=1))
    g2 = r(N, 64, 14, 14)
    p, idx = F.max_pool2d(y2, 2, return_indices=True)
    gp = r(N, 64, 7, 7)
    h = r(N, 3136)
    wd1, bd1 = r(64, 3136) * 0.02, r(64) * 0.1
    gd1 = r(N, 64)
    h2 = F.relu(r(N, 64))
    wd2, bd2 = r(10, 64) * 0.1, r(10) * 0.1
    gd2 = r(N, 10)
    logits, labels = r(N, 10), torch.randint(0, 10, (N,), generator=g)
    lg = logits.clone().requires_grad_()
    params = [w1, b1, w2, b2, wd1, bd1, wd2, bd2]

    def adam_ours():
        st = adam_ours.state
        st[0] += 1
        for pp, gg, m, v in zip(st[1], st[2], st[3], st[4]):
            K.adam_step(pp, gg, m, v, st[0], lr=1e-3, flavor="torch")
    adam_ours.state = [0, [q.clone() for q in params], [q.clone() for q in params],
                       [torch.zeros_like(q) for q in params], [torch.zeros_like(q) for q in params]]
    tp = [q.clone().requires_grad_() for q in params]
    for q in tp:
        q.grad = q.detach().clone()
    topt = torch.optim.Adam(tp, lr=1e-3)

    def convb(gr, xx, ww, stride, need_x):
        return lambda: aten.convolution_backward(gr, xx, ww, [ww.shape[0]], [stride] * 2, [1, 1], [1, 1], False,
                                                 [0, 0], 1, [need_x, True, True])

    out = [
        Case("conv1 fwd (+bias)", "100x1x28x28 -> 32, 3x3 s1", lambda: K.conv2d(x, w1, b1, padding="same"),
             lambda: F.conv2d(x, w1, b1, padding=1), "F.conv2d"),
        Case("conv1 bwd (dw, db)", "100x1x28x28 -> 32, 3x3 s1",
             lambda: K.conv2d_backward(g1, x, w1, padding="same", need_x=False, need_bias=True),
             convb(g1, x, w1, 1, False), "aten.convolution_backward"),
        Case("relu fwd", "100x32x28x28", lambda: K.relu(g1), lambda: F.relu(g1), "F.relu"),
        Case("relu bwd", "100x32x28x28", lambda: K.relu_backward(g1, y1),
             lambda: aten.threshold_backward(g1, y1, 0), "aten.threshold_backward"),
        Case("conv2 fwd (+bias)", "100x32x28x28 -> 64, 3x3 s2", lambda: K.conv2d(y1, w2, b2, stride=2, padding="same"),
             lambda: F.conv2d(y1, w2, b2, stride=2, padding=1), "F.conv2d"),
        Case("conv2 bwd (dx, dw, db)", "100x32x28x28 -> 64, 3x3 s2",
             lambda: K.conv2d_backward(g2, y1, w2, stride=2, padding="same", need_x=True, need_bias=True),
             convb(g2, y1, w2, 2, True), "aten.convolution_backward"),
        Case("relu fwd", "100x64x14x14", lambda: K.relu(g2), lambda: F.relu(g2), "F.relu"),
        Case("maxpool fwd (+indices)", "100x64x14x14, 2x2", lambda: K.max_pool2d(y2, 2, return_indices=True),
             lambda: F.max_pool2d(y2, 2, return_indices=True), "F.max_pool2d"),
        Case("maxpool bwd", "100x64x14x14, 2x2", lambda: K.max_pool2d_backward(gp, idx, tuple(y2.shape)),
             lambda: aten.max_pool2d_with_indices_backward(gp, y2, [2, 2], [2, 2], [0, 0], [1, 1], False, idx),
             "aten.max_pool2d_with_indices_backward"),
        Case("dense1 fwd (+bias)", "100x3136 -> 64", lambda: K.matmul(h, wd1, bd1, trans_b=True),
             lambda: F.linear(h, wd1, bd1), "F.linear"),
        Case("dense1 bwd (dx, dw, db)", "100x3136 -> 64",
             lambda: K.matmul_backward(gd1, h, wd1, trans_b=True, need_bias=True),
             lambda: (gd1 @ wd1, gd1.t() @ h, gd1.sum(0)), "mm, mm, sum"),
        Case("dense2 fwd (+bias)", "100x64 -> 10", lambda: K.matmul(h2, wd2, bd2, trans_b=True),
             lambda: F.linear(h2, wd2, bd2), "F.linear"),
        Case("dense2 bwd (dx, dw, db)", "100x64 -> 10",
             lambda: K.matmul_backward(gd2, h2, wd2, trans_b=True, need_bias=True),
             lambda: (gd2 @ wd2, gd2.t() @ h2, gd2.sum(0)), "mm, mm, sum"),
        Case("softmax CE fwd+grad", "100x10", lambda: K.softmax_cross_entropy(logits, labels),
             lambda: torch.autograd.grad(F.cross_entropy(lg, labels), lg), "F.cross_entropy + autograd"),
        Case("Adam step, 8 params", "220K floats", adam_ours, lambda: topt.step(), "optim.Adam (foreach)"),
    ]
    from bench_torch import cnn_cases

    out += cnn_cases(torch)
    return [c for c in out if only in c.op]


def tf_cases(K, only: str = ""):
    """The Keras model's conv and pool ops, NHWC: our kernels vs TF's, same shapes as cases()."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    N = 100
    x, w1, b1 = f(N, 28, 28, 1), f(3, 3, 1, 32) * 0.3, f(32) * 0.1
    y1 = np.asarray(K.conv2d(x, w1, b1, padding="same", layout="NHWC", activation="relu"))
    w2, b2 = f(3, 3, 32, 64) * 0.06, f(64) * 0.1
    y2 = np.asarray(K.conv2d(y1, w2, b2, stride=2, padding="same", layout="NHWC", activation="relu"))
    g1, g2, gp = f(N, 28, 28, 32), f(N, 14, 14, 64), f(N, 7, 7, 64)
    _, idx = K.max_pool2d(y2, 2, layout="NHWC", return_indices=True)
    tx, tw1, tb1, ty1, tw2, tb2, ty2, tg1, tg2, tgp = map(tf.constant, (x, w1, b1, y1, w2, b2, y2, g1, g2, gp))
    raw = tf.raw_ops

    @tf.function
    def conv1_fwd():
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(tx, tw1, 1, "SAME"), tb1))

    @tf.function
    def conv1_bwd():
        gg = raw.ReluGrad(gradients=tg1, features=ty1)
        return (raw.Conv2DBackpropFilter(input=tx, filter_sizes=[3, 3, 1, 32], out_backprop=gg, strides=[1, 1, 1, 1],
                                         padding="SAME"), tf.reduce_sum(gg, [0, 1, 2]))

    @tf.function
    def conv2_fwd():
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(ty1, tw2, 2, "SAME"), tb2))

    @tf.function
    def conv2_bwd():
        gg = raw.ReluGrad(gradients=tg2, features=ty2)
        s = [1, 2, 2, 1]
        return (raw.Conv2DBackpropFilter(input=ty1, filter_sizes=[3, 3, 32, 64], out_backprop=gg, strides=s,
                                         padding="SAME"),
                raw.Conv2DBackpropInput(input_sizes=[N, 28, 28, 32], filter=tw2, out_backprop=gg, strides=s,
                                        padding="SAME"), tf.reduce_sum(gg, [0, 1, 2]))

    @tf.function
    def pool_fwd():
        return tf.nn.max_pool2d(ty2, 2, 2, "VALID")

    @tf.function
    def pool_bwd():
        return raw.MaxPoolGrad(orig_input=ty2, orig_output=tf.nn.max_pool2d(ty2, 2, 2, "VALID"), grad=tgp,
                               ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")

    out = [
        Case("conv1 fwd (+bias, relu)", "100x28x28x1 -> 32, 3x3 s1",
             lambda: K.conv2d(x, w1, b1, padding="same", layout="NHWC", activation="relu"), conv1_fwd, "tf.nn"),
        Case("conv1 bwd (dw, db, relu)", "100x28x28x1 -> 32, 3x3 s1",
             lambda: K.conv2d_backward(g1, x, w1, padding="same", layout="NHWC", need_x=False, need_bias=True, y=y1,
                                       activation="relu"), conv1_bwd, "ReluGrad, Conv2DBackpropFilter, sum"),
        Case("conv2 fwd (+bias, relu)", "100x28x28x32 -> 64, 3x3 s2",
             lambda: K.conv2d(y1, w2, b2, stride=2, padding="same", layout="NHWC", activation="relu"), conv2_fwd,
             "tf.nn"),
        Case("conv2 bwd (dx, dw, db, relu)", "100x28x28x32 -> 64, 3x3 s2",
             lambda: K.conv2d_backward(g2, y1, w2, stride=2, padding="same", layout="NHWC", need_bias=True, y=y2,
                                       activation="relu"), conv2_bwd, "ReluGrad, Conv2DBackprop{Filter,Input}, sum"),
        Case("maxpool fwd (+indices)", "100x14x14x64, 2x2",
             lambda: K.max_pool2d(y2, 2, layout="NHWC", return_indices=True), pool_fwd, "tf.nn.max_pool2d"),
        Case("maxpool bwd", "100x14x14x64, 2x2", lambda: K.max_pool2d_backward(gp, idx, y2.shape, layout="NHWC"),
             pool_bwd, "MaxPoolGrad (+ its forward)"),
    ]
    return [c for c in out if only in c.op]


def measure(case: Case, rounds: int, clock) -> tuple[float, float]:
    """harness.measure with a choice of clock: medians of alternating rounds of ours / torch."""
    def med(fn):
        n = 1 if harness.QUICK else 7
        for _ in range(1 if harness.QUICK else 3):
            fn()
        times = []
        for _ in range(n):
            t0 = clock()
            fn()
            times.append(clock() - t0)
        return statistics.median(times)
    ours, ref = [], []
    for _ in range(1 if harness.QUICK else rounds):
        ours.append(med(case.ours))
        ref.append(med(case.ref))
    return statistics.median(ours), statistics.median(ref)


def main(argv):
    import torch

    import twincore.kernels as K

    argv = quick_flag(argv)
    threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else (os.cpu_count() or 1)
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 3
    only = argv[argv.index("--only") + 1] if "--only" in argv else ""
    torch.set_num_threads(threads)
    K.set_num_threads(threads)
    if "--tf" in argv:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
    load = os.getloadavg()[0]
    clock = "CPU time" if "--cpu-time" in argv else "wall time"
    print(f"cnn_ops: {threads} threads, {clock}, load average {load:.1f} at start")
    ref = "TF" if "--tf" in argv else "torch"
    print(f"| op | shape | ours (ms) | {ref} | {ref} (ms) | {ref} / ours |\n|---|---|---:|---|---:|---:|")
    tot_o = tot_r = 0.0
    for c in tf_cases(K, only) if "--tf" in argv else cases(torch, K, only):
        o, r = measure(c, rounds, time.process_time if "--cpu-time" in argv else time.perf_counter)
        if c.op.startswith("document CNN"):
            print(f"| sum of the ops above | | {tot_o * 1e3:.3f} | | {tot_r * 1e3:.3f} | {tot_r / tot_o:.2f}x |")
        else:
            tot_o, tot_r = tot_o + o, tot_r + r
        print(f"| {c.op} | {c.shape} | {o * 1e3:.3f} | {c.ref_name} | {r * 1e3:.3f} | {r / o:.2f}x |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
