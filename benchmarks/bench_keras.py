"""Keras frontend benchmark: the document CNN trained through our layers vs the same
model in Keras's own layers, side by side in one process; plus what the graph-mode
bridge (tf.numpy_function around each core call) costs per op.

    python benchmarks/bench_keras.py [--steps 100] [--rounds 3] [--no-save] [--quick]
                                     [--policy float32|mixed_bfloat16|mixed_float16]

CNN: conv 32 3x3 s1 same relu -> conv 64 3x3 s2 same relu -> maxpool 2 -> flatten ->
dense 64 relu -> dense 10; Adam; batch 100; `steps` steps on random 28x28x1 data per
timed epoch (model.fit, graph mode, Keras's default), both models under the same Keras dtype
policy (--policy; mixed ones compute in bfloat16/float16 with float32 variables). Rounds alternate
ours / Keras.
Reported: the epoch's training time (first batch begin to last batch end, from a
callback; median over rounds), the median step, and model.fit's wall time, which adds
Keras's per-fit set-up (on this VM that now and then stalls ~2.5 s for either model).
The table is printed and appended to benchmarks/RESULTS.md.
Target: ours / Keras <= 1.2 per epoch on CPU (issue 7), then <= 1.0 (issue 15).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import twincore.keras as tk  # noqa: E402
import twincore.kernels as K  # noqa: E402
from harness import machine  # noqa: E402
from twincore.frontends.keras import tf_ops as T  # noqa: E402

# core crossings per training step of the CNN: forward conv, conv, pool, dense, dense, loss;
# backward: dense, dense, conv2 each parameters + input in one crossing (their inputs come
# from watched variables), pool, conv1 parameters only (its input gradient is a separate
# crossing, pruned: the input is data); the loss's gradient is computed in its forward
CROSSINGS_PER_STEP = 11


def cnn(lib, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        lib.Conv2D(32, 3, padding="same", activation="relu"),
        lib.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        lib.MaxPooling2D(2),
        keras.layers.Flatten(),
        lib.Dense(64, activation="relu"),
        lib.Dense(10),
    ])
    losses = tk if lib is tk else keras.losses
    model.compile(keras.optimizers.Adam(1e-3), losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class _StepClock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.begin, self.ends = None, []

    def on_train_batch_begin(self, batch, logs=None):
        if self.begin is None:
            self.begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def time_epochs(steps: int, rounds: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps * 100, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, steps * 100)
    models = {"ours": cnn(tk), "keras": cnn(keras.layers)}
    for m in models.values():  # warm-up: trace the train function
        m.fit(x[:200], y[:200], batch_size=100, epochs=1, verbose=0)
    res = {k: {"epoch": [], "fit": [], "steps": [], "loss": None} for k in models}
    clock = _StepClock()
    for _ in range(rounds):
        for name, m in models.items():
            t0 = time.perf_counter()
            h = m.fit(x, y, batch_size=100, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
            r = res[name]
            r["fit"].append(time.perf_counter() - t0)
            r["epoch"].append(clock.ends[-1] - clock.begin)
            r["steps"] += list(np.diff([clock.begin] + clock.ends))
            r["loss"] = h.history["loss"][-1]
    return {k: dict(epoch=statistics.median(r["epoch"]), fit=statistics.median(r["fit"]),
                    step=statistics.median(r["steps"]), loss=r["loss"]) for k, r in res.items()}


def per_call(fn, n: int, reps: int = 7) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / n


def bridge_overhead(n: int = 200) -> dict[str, float]:
    """Seconds per op on a tiny tensor (8 floats), so the kernel itself costs ~nothing."""
    x_np = np.random.default_rng(1).standard_normal(8).astype(np.float32)
    x = tf.constant(x_np)

    def chain(op):
        @tf.function
        def f(x):
            for _ in range(n):
                x = op(x)
            return x
        return lambda: f(x)

    def chain_grad(op):
        @tf.function
        def f(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = x
                for _ in range(n):
                    y = op(y)
            return tape.gradient(y, x)
        return lambda: f(x)

    def loop(fn, arg):
        def run():
            for _ in range(n):
                fn(arg)
        return run

    return {
        "kernel on numpy (no framework)": per_call(loop(K.relu, x_np), n),
        "kernel on an eager tf tensor (DLPack in/out)": per_call(loop(K.relu, x), n),
        "our op, eager (tf.custom_gradient)": per_call(loop(T.relu, x), n),
        "our op in tf.function (numpy_function bridge)": per_call(chain(T.relu), n),
        "tf.nn.relu in tf.function (native)": per_call(chain(tf.nn.relu), n),
        "our op fwd+bwd in tf.function": per_call(chain_grad(T.relu), n),
        "tf.nn.relu fwd+bwd in tf.function": per_call(chain_grad(tf.nn.relu), n),
    }


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 steps, 1 round, nothing saved")
    ap.add_argument("--policy", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                    help="Keras dtype policy of both models")
    args = ap.parse_args(argv)
    keras.config.set_dtype_policy(args.policy)
    if args.quick:
        args.steps, args.rounds, args.no_save = 2, 1, True

    over = bridge_overhead(5 if args.quick else 200)
    t = time_epochs(args.steps, args.rounds)
    o, k = t["ours"], t["keras"]
    bridge = over["our op in tf.function (numpy_function bridge)"] - over["kernel on numpy (no framework)"]
    step = o["step"]
    lines = [f"## Keras frontend (benchmarks/bench_keras.py) — {datetime.date.today()}", "",
             machine() + f"; TF {tf.__version__}, Keras {keras.__version__}; load average "
             + "/".join(f"{v:.1f}" for v in os.getloadavg()) + " (1/5/15 min, after the run)", "",
             f"Document CNN ({args.policy}), batch 100, {args.steps} steps per epoch, model.fit graph mode, "
             f"medians of {args.rounds} alternating rounds:", "",
             "| model | epoch (s) | median step (ms) | model.fit wall (s) | last loss | ours / Keras (epoch) | target |",
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| twincore layers | {o['epoch']:.2f} | {1e3 * o['step']:.1f} | {o['fit']:.2f} | {o['loss']:.4f} | "
             f"{o['epoch'] / k['epoch']:.2f}x | <= 1.00x |",
             f"| Keras layers (native TF) | {k['epoch']:.2f} | {1e3 * k['step']:.1f} | {k['fit']:.2f} | "
             f"{k['loss']:.4f} | 1.00x | |", "",
             f"Median step ours / Keras: {o['step'] / k['step']:.2f}x; model.fit wall: {o['fit'] / k['fit']:.2f}x.", "",
             "Graph-mode bridge, per op on an 8-float tensor (kernel work ~0):", "",
             "| path | us / op |", "|---|---:|"]
    lines += [f"| {k} | {v * 1e6:.1f} |" for k, v in over.items()]
    lines += ["", f"Bridge cost per crossing ~{bridge * 1e6:.0f} us; the CNN makes {CROSSINGS_PER_STEP} crossings "
              f"per step -> ~{CROSSINGS_PER_STEP * bridge * 1e3:.2f} ms of a {step * 1e3:.1f} ms step "
              f"({100 * CROSSINGS_PER_STEP * bridge / step:.1f}%).", "", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_save:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
