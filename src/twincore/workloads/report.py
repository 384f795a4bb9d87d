"""What a training run leaves behind: metrics.csv, curves.png, confusion.png,
summary.json, and the per-class table printed at the end. Framework-free."""

from __future__ import annotations

import csv
import json
import os
from typing import Sequence

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """[true, predicted] counts."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 per class from a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    pred = cm.sum(0).astype(np.float64)
    true = cm.sum(1).astype(np.float64)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": true}


def class_table(cm: np.ndarray, classes: Sequence[str]) -> str:
    s = per_class(cm)
    lines = [f"{'class':>14} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}"]
    for i, name in enumerate(classes):
        lines.append(f"{name:>14} {s['precision'][i]:9.3f} {s['recall'][i]:7.3f} {s['f1'][i]:6.3f} {int(s['support'][i]):7d}")
    lines.append(f"{'macro avg':>14} {s['precision'].mean():9.3f} {s['recall'].mean():7.3f} {s['f1'].mean():6.3f} {int(s['support'].sum()):7d}")
    return "\n".join(lines)


def write_metrics_csv(path: str, history: list[dict]) -> None:
    if not history:
        return
    keys = list(history[0].keys())
    for h in history:
        keys += [k for k in h if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path: str, history: list[dict], title: str = "") -> None:
    """Loss and accuracy per epoch, train and validation."""
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("train_", "-o"), ("val_", "--s")):
            vals = [h.get(prefix + key) for h in history]
            if any(v is not None for v in vals):
                ax.plot(ep, vals, style, label=prefix.rstrip("_"))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(path: str, cm: np.ndarray, classes: Sequence[str], title: str = "") -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    thresh = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > thresh else "black")
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(path: str, obj: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    os.replace(tmp, path)
