"""`twincore compare`: one model, every frontend, same initial weights, same batches,
same optimizer kernel; a side-by-side table and one plot of the loss curves overlaid."""

from __future__ import annotations

import copy
import os

import numpy as np

from twincore.workloads import report
from twincore.workloads.keras_jax import keras_backend_name, run_child
from twincore.workloads.trainer import RunConfig, fit


def max_rel_diff(a: list[float], b: list[float]) -> float:
    n = min(len(a), len(b))
    if n == 0:
        return float("nan")
    x, y = np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12)))


def compare(spec, task, cfg: RunConfig, frontends: list[str], out: str, channels_last: bool = False,
            device: str = "cpu") -> list[dict]:
    """Train spec through each frontend (same weights, batches, optimizer kernel); print and
    write the side-by-side table and the overlaid loss curves. channels_last: the torch
    frontend's conv layers in NHWC, Keras's layout (see torch_backend). device: "cuda" trains
    each frontend on the GPU (make_backend refuses those that cannot)."""
    from twincore.cli import make_backend

    os.makedirs(out, exist_ok=True)
    results = []
    for name in frontends:
        c = copy.copy(cfg)
        c.out = os.path.join(out, name)
        if name.startswith("keras-jax") and keras_backend_name() != "jax":
            # keras's backend is fixed at import: a child on JAX, so this process's keras (the
            # "keras" rows, TF) is left as it is
            s, weights = run_child(name, spec, task, c, channels_last)
            results.append({"frontend": name, **s, "weights": weights})
            continue
        try:
            backend = make_backend(name, spec, cfg.seed, device=device, dtype=cfg.dtype,
                                   channels_last=channels_last)
        except (ImportError, ValueError) as e:
            print(f"skipping {name}: {e}")
            continue
        s = fit(spec, backend, task, c)
        weights = [np.asarray(backend.to_canonical(i, p)) for i, p in enumerate(backend.params)]
        results.append({"frontend": name, **s, "weights": weights})
    if not results:
        raise SystemExit("twincore compare: no frontend could run")
    ref = results[0]["step_losses"]
    lines = [f"{spec.name}: {cfg.epochs} epoch(s), batch {cfg.batch_size}, lr {cfg.lr}, seed {cfg.seed}, "
             f"{results[0]['steps']} steps each, {cfg.dtype}; same initial weights and batch order; "
             f"optimizer: twincore's fused {spec.optimizer} kernel",
             "",
             f"| frontend | test accuracy | test loss | s/epoch | max rel. loss diff vs {results[0]['frontend']} (any step) |",
             "|---|---:|---:|---:|---:|"]
    diffs = [max_rel_diff(r["step_losses"], ref) if r is not results[0] else 0.0 for r in results]
    for r, diff in zip(results, diffs):
        acc = r.get("test_accuracy")
        per_epoch = r["train_seconds"] / max(len(r["history"]), 1)
        lines.append(f"| {r['frontend']} | {acc:.4f} | {r['test_loss']:.4f} | {per_epoch:.1f} | {diff:.2e} |"
                     if acc is not None else
                     f"| {r['frontend']} | - | {r['test_loss']:.6f} | {per_epoch:.1f} | {diff:.2e} |")
    conv = any(layer.kind in ("conv", "rotconv") for layer in spec.layers)
    ours = [(r, d) for r, d in zip(results, diffs) if not r["frontend"].endswith("-native")]
    same_weights = all(all(np.array_equal(a, b) for a, b in zip(r["weights"], ours[0][0]["weights"]))
                       for r, _ in ours)
    if len(ours) > 1 and same_weights:
        spread = max(d for _, d in ours) - min(d for _, d in ours)
        lines += ["", f"Bit-identical training through {', '.join(r['frontend'] for r, _ in ours)}: they end with "
                  f"the same {cfg.dtype} weights"
                  + (", and computed the same loss at every step." if spread == 0.0 else
                     f"; their loss values differ by at most {spread:.1e} relative because Keras averages "
                     "the per-sample losses itself (in float32; the kernel's mean sums in float64).")]
        if len(ours) < len(results):
            lines += ["The -native rows are torch.nn's / Keras's own layers on the frameworks' kernels: they differ "
                      "by rounding, which Adam amplifies."]
    elif cfg.dtype == "float32" and conv and not channels_last and "torch" in [r["frontend"] for r in results]:
        lines += ["", "float32 runs drift apart by rounding: the NCHW (torch) and NHWC (keras, native) conv paths sum in",
                  "different orders, and Adam's first steps (update ~ sign(g)) amplify 1e-7 differences. With",
                  "--channels-last the torch frontend's conv layers run in NHWC and every frontend computes the same",
                  "bits; with --dtype float64 the runs agree step by step to ~1e-9 (tests/workloads)."]
    table = "\n".join(lines)
    print("\n" + table)
    with open(os.path.join(out, "compare.md"), "w") as f:
        f.write(table + "\n")
    plt = report._plt()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for r in results:
        ax.plot(np.arange(1, len(r["step_losses"]) + 1), r["step_losses"], label=r["frontend"], lw=1, alpha=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (per batch)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{spec.name}: the same model through each frontend, on twincore's kernels")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "compare.png"), dpi=110)
    plt.close(fig)
    print(f"wrote {out}/compare.md, compare.png and one folder per frontend")
    return results
