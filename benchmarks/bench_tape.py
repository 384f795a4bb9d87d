"""The autograd tape's overhead and one MLP training run: core tape vs torch autograd vs
TensorFlow/Keras, side by side in one process.

    python benchmarks/bench_tape.py [--steps 300] [--threads N] [--no-tf] [--quick]

1. A chain of 1,000 small ops (500 x [16x16 matmul, relu]) forward + backward, single
   thread everywhere: time per op for the core tape, torch autograd and tf.GradientTape.
   Target: ours <= 0.5x torch's per-op time. Weights are identity + 0.01 noise on a
   positive input, so activations stay O(1) (no denormals skewing the arithmetic).
2. MLP 784-512-10 relu, softmax cross-entropy, Adam 1e-3, batch 32, `--steps` steps on
   Fashion-MNIST: samples/s for the core tape, torch (nn.Linear + torch.optim.Adam) and
   Keras (model.fit, after a warm-up fit that traces it), all with the same threads.

Each figure is a median of rounds interleaved across the contenders; both wall-clock
and process CPU time are shown, because the machines these run on are shared (wall
time then includes waiting for a core). Appends a table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import statistics
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # harness; twincore is the installed package (or PYTHONPATH=src)


def timed(fn, reps: int) -> tuple[float, float]:
    """Median (wall, cpu) seconds of fn() over reps runs."""
    wall, cpu = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def interleave(contenders: dict, rounds: int, reps: int) -> dict:
    for fn in contenders.values():  # warm-up
        fn()
    got = {k: [] for k in contenders}
    for _ in range(rounds):
        for k, fn in contenders.items():
            got[k].append(timed(fn, reps))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in got.items()}


# ---- 1. per-op overhead ----
def chain_contenders(pairs: int, use_tf: bool) -> dict:
    import torch

    import twincore.frontends.native as tn

    r = np.random.default_rng(0)
    ws = [(np.eye(16) + r.standard_normal((16, 16)) * 0.01).astype(np.float32) for _ in range(pairs)]
    x0 = np.abs(r.standard_normal((16, 16))).astype(np.float32)

    tw, tx = [tn.Variable(w) for w in ws], tn.Tensor(x0)

    def ours():
        with tn.GradientTape() as tape:
            h = tx
            for w in tw:
                h = tn.relu(tn.matmul(h, w))
            loss = tn.reduce_sum(h)
        return tape.gradient(loss, tw)

    pw, px = [torch.tensor(w, requires_grad=True) for w in ws], torch.tensor(x0)

    def torch_autograd():
        h = px
        for w in pw:
            h = torch.relu(h @ w)
        return torch.autograd.grad(h.sum(), pw)

    out = {"core tape": ours, "torch autograd": torch_autograd}
    if use_tf:
        import tensorflow as tf

        fw, fx = [tf.Variable(w) for w in ws], tf.constant(x0)

        def tf_tape():
            with tf.GradientTape() as tape:
                h = fx
                for w in fw:
                    h = tf.nn.relu(tf.matmul(h, w))
                loss = tf.reduce_sum(h)
            return tape.gradient(loss, fw)

        out["tf.GradientTape (eager)"] = tf_tape
    # sanity: the three agree on the gradient of the first weight
    g0 = [np.asarray(fn()[0]) for fn in out.values()]
    for g in g0[1:]:
        assert np.allclose(g, g0[0], rtol=1e-3, atol=1e-3), "contenders disagree"
    return out


# ---- 2. MLP training ----
def mlp_contenders(steps: int, use_tf: bool, random_data: bool = False) -> tuple[dict, int]:
    import torch

    import twincore.frontends.native as tn
    from twincore import data

    n = steps * 32
    if random_data:  # --quick: no dataset needed
        rng = np.random.default_rng(0)
        x, y = rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)
    else:
        ds = data.load()
        x = data.normalize(ds.x_train[:n]).reshape(n, 784)
        y = ds.y_train[:n]
    idx = [np.arange(i, i + 32) for i in range(0, n, 32)]

    def ours():
        model = tn.Sequential([tn.Dense(512, "relu", seed=0), tn.Dense(10, seed=1)])
        opt = tn.Adam(1e-3)
        for b in idx:
            with tn.GradientTape() as tape:
                loss = tn.softmax_cross_entropy(model(x[b]), y[b])
            params = model.trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, params), params))

    xt, yt = torch.tensor(x), torch.tensor(y)

    def torch_native():
        model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        for b in idx:
            tb = torch.from_numpy(b)
            loss = torch.nn.functional.cross_entropy(model(xt[tb]), yt[tb])
            opt.zero_grad()
            loss.backward()
            opt.step()

    out = {"core tape": ours, "torch": torch_native}
    if use_tf:
        import keras

        def keras_native():
            model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                                      keras.layers.Dense(10)])
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0, shuffle=False)  # trace
            model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)

        out["keras (fit)"] = keras_native
    return out, n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=500, help="matmul+relu pairs in the chain (ops = 2x)")
    p.add_argument("--steps", type=int, default=300, help="MLP training steps of batch 32")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for the MLP run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-tf", action="store_true")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"), help="append the tables here")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, random data, nothing saved")
    a = p.parse_args()
    if a.quick:
        a.pairs, a.steps, a.rounds, a.results = 3, 2, 1, None
    use_tf = not a.no_tf
    if use_tf:
        import tensorflow as tf

        # fixed before TF starts: the MLP's thread count (16x16 ops never use more than one)
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import torch

    from harness import machine
    from twincore import _core

    torch.set_num_threads(1)
    _core.set_num_threads(1)
    lines = [f"## autograd tape (benchmarks/bench_tape.py) — {datetime.date.today()}", "",
             machine() + " (for the chain; the MLP's threads are in its caption)", ""]

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    for l_ in lines:
        print(l_)
    ops = 2 * a.pairs
    res = interleave(chain_contenders(a.pairs, use_tf), a.rounds, reps=5)
    say(f"Chain of {ops} ops ({a.pairs} x [16x16 matmul, relu]), forward + backward, "
        f"core and torch on 1 thread:")
    say()
    say("| contender | wall us/op | cpu us/op | ours / this (cpu) | target |")
    say("|---|---:|---:|---:|---:|")
    ours_cpu = res["core tape"][1]
    for k, (w, c) in res.items():
        tgt = "ours <= 0.5x torch" if k == "torch autograd" else ""
        say(f"| {k} | {w / ops * 1e6:.2f} | {c / ops * 1e6:.2f} | {ours_cpu / c:.2f}x | {tgt} |")
    say()

    torch.set_num_threads(a.threads)
    _core.set_num_threads(a.threads)
    contenders, n = mlp_contenders(a.steps, use_tf, random_data=a.quick)
    res = interleave(contenders, max(1, a.rounds - 1), reps=1)
    say(f"MLP 784-512-10 relu, Adam 1e-3, batch 32, {a.steps} steps ({n} samples), "
        f"{a.threads} threads each:")
    say()
    say("| contender | samples/s (wall) | samples/s (cpu) | ours / this (wall) |")
    say("|---|---:|---:|---:|")
    ours_w = res["core tape"][0]
    for k, (w, c) in res.items():
        say(f"| {k} | {n / w:.0f} | {n / c:.0f} | {w / ours_w:.2f}x |")
    say()
    if a.results:
        with open(a.results, "a") as f:
            f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
