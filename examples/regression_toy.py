"""Regression toy on the core alone (document model 5).

y = x^2 + noise (std 0.02, variance 0.0004) on 200 points in [-0.5, 0.5]; a 1-10-1 network
with tanh; MSE; plain gradient descent, lr 0.1, 2000 full-batch steps. Prints the final
MSE and writes a PNG of the points and the fitted curve.

The weights start as in the source this toy comes from (TF's tf.random_normal: kernels
N(0, 1), zero biases): plain gradient descent then reaches the noise floor (MSE ~0.00045)
on every seed tried. From Keras's standard Glorot-uniform init the same recipe is still on
its way down after 2000 steps (MSE 0.0015 to 0.0056 over seeds 0-5; torch from the same
init gives the same numbers to 4 digits): the small Glorot weights leave the tanh units
nearly linear, and x^2 is found slowly. `--init glorot_uniform` shows that run too.

    PYTHONPATH=src python examples/regression_toy.py [--out regression_toy.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import twincore.frontends.native as tn


def make_data(n: int = 200, noise: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 0.5, (n, 1)).astype(np.float32)
    y = (x ** 2 + rng.normal(0.0, noise, (n, 1))).astype(np.float32)
    return x, y


def source_init(rng: np.random.Generator):
    """Kernels N(0, 1), as the source's tf.random_normal."""
    return lambda shape, fan_in, fan_out: rng.standard_normal(shape)


def train(steps: int = 2000, lr: float = 0.1, momentum: float = 0.0, seed: int = 0,
          log_every: int = 0, init: str = "normal"):
    """Returns (model, x, y, final training MSE). init: "normal" (the source's) or "glorot_uniform"."""
    x, y = make_data(seed=seed)
    rng = np.random.default_rng(1000 + seed)
    k = source_init(rng) if init == "normal" else init
    model = tn.Sequential([tn.Dense(10, "tanh", kernel_initializer=k, seed=seed),
                           tn.Dense(1, kernel_initializer=k, seed=seed + 1)])
    opt = tn.SGD(lr, momentum=momentum)
    xt = tn.Tensor(x)
    for step in range(steps):
        with tn.GradientTape() as tape:
            loss = tn.mse(model(xt), y)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        if log_every and step % log_every == 0:
            print(f"step {step:5d}  mse {loss.item():.6f}")
    final = tn.mse(model(xt), y).item()
    return model, x, y, final


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--init", default="glorot_uniform", help="the second run's initializer (the first: N(0, 1))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="regression_toy.png")
    a = p.parse_args()
    print(f"-- plain gradient descent, lr {a.lr}, {a.steps} steps, kernels N(0, 1) as in the source")
    model, x, y, final = train(a.steps, a.lr, 0.0, a.seed, log_every=a.steps // 5)
    verdict = "below" if final < 0.001 else "NOT below"
    print(f"final MSE {final:.6f}: {verdict} the 0.001 bar (noise variance 0.0004)")
    print(f"-- the same from {a.init} kernels")
    model_m, _, _, final_m = train(a.steps, a.lr, 0.0, a.seed, log_every=a.steps // 5, init=a.init)
    verdict = "below" if final_m < 0.001 else "NOT below"
    print(f"final MSE {final_m:.6f}: {verdict} the 0.001 bar")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(-0.5, 0.5, 200, dtype=np.float32)[:, None]
    fit, fit_m = model(grid).numpy(), model_m(grid).numpy()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x[:, 0], y[:, 0], s=8, alpha=0.6, label="data: x^2 + noise")
    ax.plot(grid[:, 0], grid[:, 0] ** 2, "k--", lw=1, label="x^2")
    ax.plot(grid[:, 0], fit[:, 0], "r", lw=2, label=f"N(0,1) init fit (MSE {final:.5f})")
    ax.plot(grid[:, 0], fit_m[:, 0], "g", lw=2, label=f"{a.init} init fit (MSE {final_m:.5f})")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    ax.set_title("twincore native tape: regression toy")
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
