"""Sync vs async on the same model with N workers: loss against update step, against
wall-clock and against images seen, in one figure (matplotlib Agg), plus a table.

Both runs process the same number of images: sync does `steps` updates of a global
batch N x b; async does N x steps updates of one worker's batch b each (a worker's
gradient is applied alone, as soon as it arrives).
"""

from __future__ import annotations

import json
import os

import numpy as np

from twincore.distributed.common import load_checkpoint, read_steps


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what there is)."""
    c = np.cumsum(np.insert(np.asarray(y, np.float64), 0, 0.0))
    n = np.arange(1, len(y) + 1)
    lo = np.maximum(n - window, 0)
    return (c[n] - c[lo]) / (n - lo)


def roughness(y: np.ndarray, window: int) -> float:
    """Std of the loss around its moving average: how jumpy the curve is."""
    return float(np.std(np.asarray(y) - smooth(y, window)))


def test_metrics(cfg: dict, ckpt: str, limit: int = 2000) -> dict:
    """Test loss / accuracy of a checkpoint, on the first `limit` test images."""
    from twincore.distributed.common import get_spec
    from twincore.workloads.tasks import load_task
    from twincore.workloads.torch_backend import TorchBackend
    from twincore.workloads.trainer import evaluate

    spec = get_spec(cfg["model"])
    task = load_task(spec, cfg.get("data"), cfg["seed"], cfg.get("limit_train"), limit)
    backend = TorchBackend(spec, ours=True, seed=cfg["seed"])
    _, arrays = load_checkpoint(ckpt)
    for i in range(len(backend.params)):
        backend.set_param(i, backend.to_native(i, arrays[f"w{i}"]))
    ev = evaluate(backend, task.test, spec)
    return {"test_loss": ev["loss"], "test_accuracy": ev["accuracy"]}


def plot(path: str, runs: dict, window: int, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colors = {"sync": "tab:blue", "async": "tab:orange"}
    for name, r in runs.items():
        s = r["steps"]
        for ax, x in zip(axes, (s["step"], s["seconds"], r["images"])):
            ax.plot(x, s["loss"], color=colors[name], alpha=0.25, lw=0.8)
            ax.plot(x, smooth(s["loss"], window), color=colors[name], lw=2, label=f"{name} (mean of {window})")
    for ax, xl in zip(axes, ("optimizer update", "wall-clock seconds", "training images seen")):
        ax.set_xlabel(xl)
        ax.set_ylabel("training batch loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compare_main(args) -> int:
    from twincore.distributed.cli import make_config
    from twincore.distributed.ddp import sync_worker
    from twincore.distributed.launcher import WorkerFailed, launch
    from twincore.distributed.ps import async_worker

    n = args.workers or args.nproc or 2
    args.out = args.out or os.path.join("runs", "dist-compare")
    try:
        base = make_config(args)
    except (ValueError, TypeError) as e:
        print(e)
        return 2
    steps = base["steps"] or 200
    out = base["out"]
    os.environ["TWINCORE_LAUNCHED"] = "1"
    runs = {}
    for name, fn, world, updates in (("sync", sync_worker, n, steps), ("async", async_worker, n + 1, n * steps)):
        cfg = {**base, "out": os.path.join(out, name), "steps": updates, "strategy": name, "resume": False}
        try:
            launch(fn, world, cfg, args.timeout)
        except WorkerFailed as e:
            print(e)
            return 1
        with open(os.path.join(cfg["out"], "summary.json")) as f:
            summary = json.load(f)
        st = read_steps(os.path.join(cfg["out"], "steps.csv"))
        per_update = cfg["batch_size"] * (n if name == "sync" else 1)
        runs[name] = {"steps": st, "images": st["step"] * per_update, "summary": summary,
                      "test": test_metrics(cfg, os.path.join(cfg["out"], "checkpoint.npz"))}
    window = max(5, steps // 20)
    title = (f"{base['model']} on Fashion-MNIST, {n} workers x batch {base['batch_size']}: sync (DDP, {steps} updates "
             f"of {n * base['batch_size']}) vs async (parameter server, {n * steps} updates of {base['batch_size']})")
    plot(os.path.join(out, "sync_vs_async.png"), runs, window, title)
    table = {}
    print(f"\n{'mode':6} {'updates':>7} {'seconds':>8} {'ms/update':>9} {'images/s':>9} {'last loss':>9} "
          f"{'roughness':>9} {'test loss':>9} {'test acc':>8}")
    for name, r in runs.items():
        st, sm = r["steps"], r["summary"]
        secs = float(st["seconds"][-1])
        row = {"updates": int(st["step"][-1]), "seconds": secs, "ms_per_update": 1000 * secs / len(st["step"]),
               "images_per_s": float(r["images"][-1]) / secs,
               "last_loss_smoothed": float(smooth(st["loss"], window)[-1]),
               "roughness": roughness(st["loss"], window), **r["test"]}
        if name == "async":
            row.update(staleness_mean=sm["staleness_mean"], staleness_max=sm["staleness_max"],
                       pushes_per_worker=sm["pushes_per_worker"])
        table[name] = row
        print(f"{name:6} {row['updates']:7d} {secs:8.2f} {row['ms_per_update']:9.2f} {row['images_per_s']:9.0f} "
              f"{row['last_loss_smoothed']:9.4f} {row['roughness']:9.4f} {row['test_loss']:9.4f} "
              f"{row['test_accuracy']:8.4f}")
    with open(os.path.join(out, "compare.json"), "w") as f:
        json.dump({"model": base["model"], "workers": n, "batch_size": base["batch_size"], "window": window,
                   "runs": table}, f, indent=1)
    print(f"wrote {out}/sync_vs_async.png, compare.json")
    return 0
