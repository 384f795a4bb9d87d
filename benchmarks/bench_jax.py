"""JAX frontend benchmark: what one XLA FFI crossing into the core costs per op, and the
document CNN trained through our Keras layers vs Keras's own layers, both on Keras's JAX
backend (jitted train steps), side by side in one process.

    python benchmarks/bench_jax.py [--steps 100] [--rounds 3] [--chain 200] [--parts ops,lstm,cnn] [--no-save]

Crossing cost: a jitted chain of `chain` calls x = op(x) on a tiny input (8 floats, so the
kernel's work is ~0), divided by `chain`: the in-graph cost of one custom call (XLA's
dispatch to the handler, the buffer views, the C++ check, the kernel launch). Beside it the
same chain of JAX's own op (XLA fuses those, so it shows the floor), and the eager
per-call latency (Python -> jax dispatch -> XLA -> handler) of ours and JAX's.
Target (issue #18): <= 10 us per crossing (the TF bridge costs ~40-80 us).
LSTM: one layer (T 28, B 100, I 28, H 128: the lstm model's shape), forward + backward under
jax.jit, ours (one FFI crossing each way) vs the same LSTM written with jax.lax.scan.
CNN: conv 32 3x3 s1 same relu -> conv 64 3x3 s2 same relu -> maxpool 2 -> flatten ->
dense 64 relu -> dense 10; Adam; batch 100; `steps` steps of random 28x28x1 data per
timed epoch (model.fit, jit_compile on for both). Target: ours / Keras <= 1.0x per epoch.
The tables are printed and appended to benchmarks/RESULTS.md.
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
os.environ["KERAS_BACKEND"] = "jax"
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import twincore.jax as tj  # noqa: E402
import twincore.keras as tk  # noqa: E402
from harness import machine  # noqa: E402

# FFI crossings per training step of the CNN: forward conv, conv, pool, dense, dense, loss (6);
# backward: dense, dense, pool, conv, conv (5); the loss's gradient comes from its forward.
CROSSINGS_PER_STEP = 11


def _ops():
    """(name, ours, JAX's own, input): each op maps its input to the same shape."""
    r = np.random.default_rng(1)
    v = jnp.asarray(r.standard_normal((2, 4)), jnp.float32)
    img = jnp.asarray(r.standard_normal((1, 2, 2, 2)), jnp.float32)
    w2 = jnp.asarray(r.standard_normal((2, 2)) * 0.5, jnp.float32)
    w11 = jnp.asarray(r.standard_normal((1, 1, 2, 2)) * 0.5, jnp.float32)
    dn = ("NHWC", "HWIO", "NHWC")
    t8 = jnp.zeros((1, 1, 1, 8), jnp.float32) + v.reshape(1, 1, 1, 8)
    return [
        ("relu", tj.relu, jax.nn.relu, v),
        ("tanh", tj.tanh, jnp.tanh, v),
        ("softmax", tj.softmax, jax.nn.softmax, v),
        ("dense (matmul+relu)", lambda x: tj.dense(x.reshape(4, 2), w2, None, "relu").reshape(2, 4),
         lambda x: jax.nn.relu(x.reshape(4, 2) @ w2).reshape(2, 4), v),
        ("conv2d 1x1", lambda x: tj.conv2d(x, w11, padding="same", layout="NHWC"),
         lambda x: jax.lax.conv_general_dilated(x, w11, (1, 1), "SAME", dimension_numbers=dn), img),
        ("max_pool2d 2x2 s1 same", lambda x: tj.max_pool2d(x, 2, 1, "same", "NHWC"),
         lambda x: jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 1, 1, 1), "SAME"), img),
        ("global_avg_pool2d", lambda x: tj.global_avg_pool2d(x, "NHWC").reshape(1, 1, 1, 8),
         lambda x: jnp.mean(x, (1, 2)).reshape(1, 1, 1, 8), t8),
        ("rotate", lambda x: tj.rotate(x, 10.0, layout="NHWC"), None, img),
        ("mse (none)", lambda x: tj.mse(x, v, "none"), lambda x: (x - v) ** 2, v),
        ("sigmoid", tj.sigmoid, jax.nn.sigmoid, v),
        ("leaky_relu", lambda x: tj.leaky_relu(x, 0.2), lambda x: jax.nn.leaky_relu(x, 0.2), v),
        ("conv_transpose2d 1x1", lambda x: tj.conv_transpose2d(x, w11, layout="NHWC"),
         lambda x: jax.lax.conv_transpose(x, w11, (1, 1), "VALID", dimension_numbers=dn, transpose_kernel=True), img),
        ("bce with logits (none)", lambda x: tj.binary_cross_entropy_with_logits(x, v, reduction="none"),
         lambda x: -(v * jax.nn.log_sigmoid(x) + (1 - v) * jax.nn.log_sigmoid(-x)), v),
        ("batch_norm_inference [N,C]", lambda x: tj.batch_norm_inference(x, None, None, v[0], v[1] ** 2, 1e-3),
         lambda x: (x - v[0]) * jax.lax.rsqrt(v[1] ** 2 + 1e-3), v),
    ]


def _time(fn, reps: int = 7) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def crossing_costs(n: int) -> list[tuple]:
    rows = []
    for name, ours, theirs, x in _ops():
        def chain(op):
            def f(x):
                for _ in range(n):
                    x = op(x)
                return x
            jf = jax.jit(f)
            return lambda: jf(x)

        def eager(op):
            def run():
                y = None
                for _ in range(20):
                    y = op(x)
                return y
            return run

        o = _time(chain(ours)) / n
        t = _time(chain(theirs)) / n if theirs else float("nan")
        oe = _time(eager(ours)) / 20
        te = _time(eager(theirs)) / 20 if theirs else float("nan")
        rows.append((name, o, t, oe, te))
    # one forward + backward chain: the custom_vjp's backward crossing included
    g_ours = jax.jit(jax.grad(lambda x: _sum_chain(tj.relu, x, n)))
    g_theirs = jax.jit(jax.grad(lambda x: _sum_chain(jax.nn.relu, x, n)))
    v = _ops()[0][3]
    rows.append(("relu fwd+bwd", _time(lambda: g_ours(v)) / n, _time(lambda: g_theirs(v)) / n,
                 float("nan"), float("nan")))
    return rows


def _sum_chain(op, x, n):
    for _ in range(n):
        x = op(x)
    return x.sum()


def _scan_lstm(x, w_ih, w_hh, b):
    H = w_hh.shape[1]

    def step(carry, xt):
        h, c = carry
        z = xt @ w_ih.T + h @ w_hh.T + b
        i, f, o = jax.nn.sigmoid(z[:, :H]), jax.nn.sigmoid(z[:, H:2 * H]), jax.nn.sigmoid(z[:, 3 * H:])
        c = f * c + i * jnp.tanh(z[:, 2 * H:3 * H])
        h = o * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[1], H), x.dtype)
    return jax.lax.scan(step, (zeros, zeros), x)[1]


def lstm_vs_scan(rounds: int, T=28, B=100, I=28, H=128) -> tuple:
    """(ours, scan) median seconds of a jitted forward+backward of one LSTM layer."""
    r = np.random.default_rng(2)
    x = jnp.asarray(r.standard_normal((T, B, I)), jnp.float32)
    w_ih, w_hh = (jnp.asarray(r.standard_normal(s) * 0.1, jnp.float32) for s in ((4 * H, I), (4 * H, H)))
    b = jnp.zeros(4 * H, jnp.float32)
    loss_ours = lambda *a: (tj.lstm(*a)[0] ** 2).sum()  # noqa: E731
    loss_scan = lambda *a: (_scan_lstm(*a) ** 2).sum()  # noqa: E731
    go = jax.jit(jax.grad(loss_ours, argnums=(0, 1, 2, 3)))
    gs = jax.jit(jax.grad(loss_scan, argnums=(0, 1, 2, 3)))
    o = _time(lambda: go(x, w_ih, w_hh, b), reps=5 * rounds)
    s_ = _time(lambda: gs(x, w_ih, w_hh, b), reps=5 * rounds)
    return o, s_


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
    model.compile(keras.optimizers.Adam(1e-3), losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
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
    for m in models.values():  # warm-up: trace and compile the train function
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


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chain", type=int, default=200)
    ap.add_argument("--parts", default="ops,lstm,cnn", help="comma-separated: ops, lstm, cnn")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))

    rows = crossing_costs(args.chain) if "ops" in parts or "cnn" in parts else []
    us = lambda s: "-" if s != s else f"{s * 1e6:.1f}"  # noqa: E731
    lines = [f"## JAX frontend (benchmarks/bench_jax.py) — {datetime.date.today()}", ""]
    head = machine() + f"; jax {jax.__version__}, Keras {keras.__version__}"
    if "lstm" in parts:
        lo, ls = lstm_vs_scan(args.rounds)
        lines += ["LSTM layer (T 28, B 100, I 28, H 128, float32), jitted forward + backward, median of "
                  f"{5 * args.rounds}:", "", "| twincore.jax.lstm (ms) | jax.lax.scan LSTM (ms) | ours / scan |",
                  "|---:|---:|---:|", f"| {lo * 1e3:.2f} | {ls * 1e3:.2f} | {lo / ls:.2f}x |", ""]
    if "cnn" not in parts:
        lines += [head + "; load average " + "/".join(f"{v:.1f}" for v in os.getloadavg()), ""]
        if rows:
            lines += ["| op | ours in jit (us/op) | JAX's own in jit (us/op) | ours eager (us/call) | JAX's own eager "
                      "(us/call) |", "|---|---:|---:|---:|---:|"]
            lines += [f"| {n} | {us(a)} | {us(b)} | {us(c)} | {us(d)} |" for n, a, b, c, d in rows]
        text = "\n".join(lines + ["", ""])
        print(text)
        if not args.no_save:
            with open(HERE / "RESULTS.md", "a") as f:
                f.write(text)
        return text
    t = time_epochs(args.steps, args.rounds)
    o, k = t["ours"], t["keras"]
    relu = rows[0][1]
    lines += [head + "; load average "
             + "/".join(f"{v:.1f}" for v in os.getloadavg()) + " (1/5/15 min, after the run)", "",
             f"FFI crossing per op (a jitted chain of {args.chain} calls on a tiny input, kernel work ~0; "
             "eager: one call from Python, median of 20):", "",
             "| op | ours in jit (us/op) | JAX's own in jit (us/op) | ours eager (us/call) | JAX's own eager "
             "(us/call) | target |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {us(a)} | {us(b)} | {us(c)} | {us(d)} | <= 10 us |" for n, a, b, c, d in rows]
    lines += ["", f"Document CNN on Keras's JAX backend, batch 100, {args.steps} steps per epoch, model.fit with "
              f"jit_compile=True, medians of {args.rounds} alternating rounds:", "",
              "| model | epoch (s) | median step (ms) | model.fit wall (s) | last loss | ours / Keras (epoch) | target |",
              "|---|---:|---:|---:|---:|---:|---:|",
              f"| twincore layers (XLA FFI) | {o['epoch']:.2f} | {1e3 * o['step']:.1f} | {o['fit']:.2f} | "
              f"{o['loss']:.4f} | {o['epoch'] / k['epoch']:.2f}x | <= 1.00x |",
              f"| Keras layers (XLA CPU) | {k['epoch']:.2f} | {1e3 * k['step']:.1f} | {k['fit']:.2f} | "
              f"{k['loss']:.4f} | 1.00x | |", "",
              f"Median step ours / Keras: {o['step'] / k['step']:.2f}x. The CNN makes {CROSSINGS_PER_STEP} crossings "
              f"per step -> ~{CROSSINGS_PER_STEP * relu * 1e6:.1f} us of a {o['step'] * 1e3:.1f} ms step "
              f"({100 * CROSSINGS_PER_STEP * relu / o['step']:.3f}%).", "", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_save:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
