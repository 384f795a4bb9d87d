"""MLP on Fashion-MNIST on the core alone (document model 1, one epoch by default).

784-512-10, relu, softmax cross-entropy, Adam lr 1e-3, batch 32; the data is the
embedded default (Debian's dataset-fashion-mnist) or any MNIST IDX folder / mnist.npz.
Prints the test accuracy.

    PYTHONPATH=src python examples/native_mlp.py [--epochs 1] [--data DIR] [--save mlp.npz]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import twincore.frontends.native as tn
from twincore import data


def build(seed: int = 0) -> tn.Sequential:
    return tn.Sequential([tn.Flatten(), tn.Dense(512, "relu", seed=seed), tn.Dense(10, seed=seed + 1)])


def accuracy(model: tn.Sequential, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    """Fraction of argmax(logits) == y; no tape is active, so nothing is recorded."""
    hits = 0
    for i in range(0, len(x), batch):
        hits += int((model(x[i:i + batch]).numpy().argmax(1) == y[i:i + batch]).sum())
    return hits / len(x)


def train(epochs: int = 1, batch_size: int = 32, lr: float = 1e-3, max_steps: int | None = None,
          seed: int = 0, path: str | None = None, progress: bool = True):
    """Trains and returns (model, test accuracy, seconds, samples seen)."""
    ds = data.load(path)
    x_train, x_test = data.normalize(ds.x_train), data.normalize(ds.x_test)
    model = build(seed)
    opt = tn.Adam(lr)
    steps, seen, t0 = 0, 0, time.perf_counter()
    for epoch in range(epochs):
        order = data.batch_order(len(x_train), batch_size, seed, epoch)
        if max_steps is not None:
            order = order[:max(0, max_steps - steps)]
        bar = order
        if progress:
            from twincore.progress import progress_bar  # one line per epoch on a file or pipe
            bar = progress_bar(order, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", mininterval=0.5)
        for idx in bar:
            with tn.GradientTape() as tape:
                loss = tn.softmax_cross_entropy(model(x_train[idx]), ds.y_train[idx])
            params = model.trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, params), params))
            steps += 1
            seen += len(idx)
            if progress and steps % 100 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - t0
    return model, accuracy(model, x_test, ds.y_test), seconds, seen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=None, help="stop after this many batches")
    p.add_argument("--data", default=None, help="IDX folder or mnist.npz (default: Fashion-MNIST)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the parameters to this .npz")
    a = p.parse_args()
    model, acc, secs, seen = train(a.epochs, a.batch_size, a.lr, a.steps, a.seed, a.data)
    print(f"trained {seen} samples in {secs:.1f} s ({seen / secs:.0f} samples/s)")
    print(f"test accuracy {acc:.4f}")
    if a.save:
        model.save_weights(a.save)
        print(f"saved parameters to {a.save}")


if __name__ == "__main__":
    main()
