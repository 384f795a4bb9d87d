"""One training loop for every frontend.

A frontend backend (twincore/workloads/{torch,keras,native}.py) builds the model and
computes loss and gradients with its own autograd; this loop does everything else the
same way for all of them: batch order from (seed, epoch), the optimizer step through
twincore's fused kernels (adam_step / sgd_step, so every frontend uses the same update
code), gradient clipping, validation, checkpoints, metrics and plots.

Backend protocol:
    name: str; params: list of the frontend's parameter arrays (updated in place by
    K.adam_step / K.sgd_step through DLPack)
    to_native(i, a) / to_canonical(i, p): parameter i between the canonical layout and its own
    set_param(i, value); zeros_like(p); grad_step(x, y) -> (loss, n_correct, grads);
    predict(x) -> outputs (numpy); commit(): after updates (Keras assigns its NumPy copies back)
    device: "cpu" (default) or "cuda": then grad_step may return the loss and the number of
    correct predictions as device scalars (torch tensors); the loop sums them on the device
    and reads them back once per LOG_EVERY steps and per epoch (no host round trip per step),
    and clips gradients with device arithmetic.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

import twincore.kernels as K
from twincore.data import batch_order
from twincore.workloads import report
from twincore.workloads.specs import Spec, init_weights
from twincore.workloads.tasks import Split, TaskData


@dataclass
class RunConfig:
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    out: str | None = None
    resume: bool = False
    progress: bool = True
    max_steps: int | None = None     # stop each epoch after this many steps (short runs)
    init_from: str | None = None     # checkpoint to take the first layers from (transfer)
    freeze: int = 0                  # number of leading layers (weight + bias) to load and freeze
    eval_every_epoch: bool = True
    dtype: str = "float32"           # float64 for tight cross-frontend parity
    restore_best: bool = False       # test with the weights of the best validation loss (as Keras's
                                     # EarlyStopping(restore_best_weights=True)); checkpoints stay the last
    lr_schedule: str = "constant"    # or "cosine": lr * (1 + cos(pi * t / T)) / 2 over the run's T steps


@dataclass
class State:
    step: int = 0
    epoch: int = 0                   # epochs completed
    m: list = field(default_factory=list)
    v: list = field(default_factory=list)
    history: list = field(default_factory=list)
    step_losses: list = field(default_factory=list)


def softmax_xent_np(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits.astype(np.float64)
    z = z - z.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    return float((lse - z[np.arange(len(y)), y]).mean())


def evaluate(backend, split: Split, spec: Spec, batch_size: int = 1000) -> dict:
    """Loss and accuracy (classification head) of the backend's model in inference mode."""
    outs = []
    for i in range(0, len(split), batch_size):
        part = split.take(slice(i, i + batch_size))
        outs.append(backend.predict(part.x))
    if spec.task == "regress":
        pred = np.concatenate(outs)
        return {"loss": float(((pred - split.y) ** 2).mean()), "pred": pred}
    if spec.task == "multi-io":
        logits = np.concatenate([o[0] for o in outs])
        value = np.concatenate([o[1] for o in outs])
        y, bright = split.y
        ce, mse = softmax_xent_np(logits, y), float(((value - bright) ** 2).mean())
        w = spec.loss_weights
        return {"loss": w[0] * ce + w[1] * mse, "accuracy": float((logits.argmax(1) == y).mean()),
                "pred": logits.argmax(1), "ce": ce, "mse": mse}
    logits = np.concatenate(outs)
    return {"loss": softmax_xent_np(logits, split.y), "accuracy": float((logits.argmax(1) == split.y).mean()),
            "pred": logits.argmax(1)}


LOG_EVERY = 50  # steps between reads of device-side metrics (the progress bar's numbers)


def _is_device(v) -> bool:
    return hasattr(v, "device") and getattr(v.device, "type", "cpu") != "cpu"


def _floats(values: list) -> list[float]:
    """Device scalars -> floats with one copy (a per-value float() would synchronise each)."""
    if not any(_is_device(v) for v in values):
        return [float(v) for v in values]
    import torch

    dev = next(v.device for v in values if _is_device(v))
    return torch.stack([torch.as_tensor(v, dtype=torch.float64, device=dev).reshape(()) for v in values]).cpu().tolist()


def _clip_on_device(grads: list, clipnorm: float) -> list:
    """Global-norm clipping without reading the norm back: g * min(1, clipnorm / norm)."""
    import torch

    norm = torch.sqrt(sum((g.double() * g.double()).sum() for g in grads))
    scale = torch.where(norm > clipnorm, clipnorm / norm, torch.ones_like(norm))
    return [g * scale.to(g.dtype) for g in grads]


def _labels(split: Split):
    return split.y[0] if isinstance(split.y, tuple) else split.y


def _sq_norm(g) -> float:
    a = g.numpy() if hasattr(g, "numpy") and not hasattr(g, "requires_grad") else g  # native/TF -> numpy view
    return float((a * a).sum())


def save_checkpoint(path: str, backend, state: State, spec: Spec, cfg: RunConfig) -> None:
    """Model + optimizer in the canonical layout, written atomically (temp file + rename)."""
    arrays = {}
    for i, p in enumerate(backend.params):
        arrays[f"w{i}"] = backend.to_canonical(i, p)
        if state.m:
            arrays[f"m{i}"] = backend.to_canonical(i, state.m[i])
            arrays[f"v{i}"] = backend.to_canonical(i, state.v[i])
    meta = {"model": spec.name, "frontend": backend.name, "step": state.step, "epoch": state.epoch,
            "history": state.history, "lr": cfg.lr, "batch_size": cfg.batch_size, "seed": cfg.seed}
    tmp = path + ".tmp.npz"
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> tuple[dict, dict]:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        arrays = {k: z[k] for k in z.files if k != "meta"}
    return meta, arrays


def lr_at(cfg: RunConfig, step: int, total: int) -> float:
    """The learning rate of update `step` (1-based) of `total` (torch's CosineAnnealingLR with
    eta_min 0 and Keras's CosineDecay take the same values)."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(step - 1, total) / total))
    raise ValueError(f"lr_schedule: expected 'constant' or 'cosine', got {cfg.lr_schedule!r}")


def _frozen_count(cfg: RunConfig) -> int:
    return 2 * cfg.freeze


def fit(spec: Spec, backend, task: TaskData, cfg: RunConfig, on_step=None) -> dict:
    """Train backend's model on task; returns the summary dict (also written to cfg.out)."""
    state = State()
    ckpt = os.path.join(cfg.out, "checkpoint.npz") if cfg.out else None
    if cfg.out:
        os.makedirs(cfg.out, exist_ok=True)
    weights = init_weights(spec, cfg.seed, np.dtype(cfg.dtype))
    if cfg.init_from:
        meta, arrays = load_checkpoint(cfg.init_from)
        if meta["model"] != spec.name:
            raise ValueError(f"--init-from: {cfg.init_from} holds a {meta['model']!r} model, not {spec.name!r}")
        for i in range(_frozen_count(cfg)):
            if arrays[f"w{i}"].shape != weights[i].shape:
                raise ValueError(f"--init-from: parameter {i} has shape {arrays[f'w{i}'].shape}, "
                                 f"expected {weights[i].shape}")
            weights[i] = arrays[f"w{i}"].astype(weights[i].dtype)
    for i, w in enumerate(weights):
        backend.set_param(i, backend.to_native(i, w))
    state.m = [backend.zeros_like(p) for p in backend.params] if spec.optimizer == "adam" else []
    state.v = [backend.zeros_like(p) for p in backend.params] if spec.optimizer == "adam" else []
    if cfg.resume and ckpt and os.path.exists(ckpt):
        meta, arrays = load_checkpoint(ckpt)
        for i in range(len(backend.params)):
            backend.set_param(i, backend.to_native(i, arrays[f"w{i}"]))
            if state.m:
                state.m[i] = backend.to_native(i, arrays[f"m{i}"])
                state.v[i] = backend.to_native(i, arrays[f"v{i}"])
        state.step, state.epoch, state.history = meta["step"], meta["epoch"], meta["history"]
        print(f"resumed from {ckpt} at epoch {state.epoch}, step {state.step}")
    backend.commit()
    frozen = _frozen_count(cfg)
    best = None  # (val loss, epoch, canonical weights)
    n = len(task.train)
    per_epoch = -(-n // cfg.batch_size) if not cfg.max_steps else min(cfg.max_steps, -(-n // cfg.batch_size))
    total_steps = max(1, cfg.epochs * per_epoch)
    t_train = 0.0
    for epoch in range(state.epoch, cfg.epochs):
        order = batch_order(n, cfg.batch_size, cfg.seed, epoch)
        if cfg.max_steps:
            order = order[:cfg.max_steps]
        bar = None
        if cfg.progress and spec.task != "regress":
            from ..progress import progress_bar  # a plain line per epoch on a file or pipe

            bar = progress_bar(total=len(order), desc=f"{backend.name} {spec.name} epoch {epoch + 1}/{cfg.epochs}",
                               unit="batch", leave=True, dynamic_ncols=True)
        loss_sum = correct = seen = 0
        first_loss = len(state.step_losses)
        on_device = getattr(backend, "device", "cpu") != "cpu"
        t0 = time.perf_counter()
        for idx in order:
            part = task.train.take(idx)
            loss, n_ok, grads = backend.grad_step(part.x, part.y)
            if spec.clipnorm and on_device:
                grads = _clip_on_device(grads, spec.clipnorm)
            elif spec.clipnorm:
                norm = math.sqrt(sum(_sq_norm(g) for g in grads))
                if norm > spec.clipnorm:
                    scale = spec.clipnorm / norm
                    grads = [g * scale if hasattr(g, "requires_grad") or isinstance(g, np.ndarray)
                             else np.asarray(g.numpy()) * scale for g in grads]
            state.step += 1
            lr = lr_at(cfg, state.step, total_steps)
            for i, (p, g) in enumerate(zip(backend.params, grads)):
                if i < frozen:
                    continue
                if spec.optimizer == "adam":
                    K.adam_step(p, g, state.m[i], state.v[i], state.step, lr=lr, flavor="torch")
                else:
                    K.sgd_step(p, g, lr=lr)
            backend.commit()
            state.step_losses.append(loss)
            if on_step:
                on_step(state.step, loss)
            loss_sum += loss * len(idx)
            correct += n_ok
            seen += len(idx)
            if bar:
                bar.update(1)
                if not on_device or bar.n % LOG_EVERY == 0 or bar.n == len(order):
                    ls, cs = _floats([loss_sum, correct])
                    bar.set_postfix(loss=f"{ls / seen:.4f}", acc=f"{cs / seen:.4f}")
        if on_device:  # one read of the epoch's device-side sums and per-step losses
            loss_sum, correct = _floats([loss_sum, correct])
            state.step_losses[first_loss:] = _floats(state.step_losses[first_loss:])
        t_train += time.perf_counter() - t0
        if bar:
            bar.close()
        row = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1),
               "train_accuracy": correct / max(seen, 1) if spec.task != "regress" else None,
               "seconds": time.perf_counter() - t0}
        if task.val is not None and cfg.eval_every_epoch:
            ev = evaluate(backend, task.val, spec)
            row["val_loss"] = ev["loss"]
            row["val_accuracy"] = ev.get("accuracy")
            if bar is not None:
                print(f"  val_loss {ev['loss']:.4f}  val_accuracy {ev.get('accuracy', float('nan')):.4f}")
            if cfg.restore_best and (best is None or ev["loss"] < best[0]):
                best = (ev["loss"], epoch + 1, [backend.to_canonical(i, p) for i, p in enumerate(backend.params)])
        state.history.append(row)
        state.epoch = epoch + 1
        if ckpt:
            save_checkpoint(ckpt, backend, state, spec, cfg)
            report.write_metrics_csv(os.path.join(cfg.out, "metrics.csv"), state.history)
    if best is not None:
        for i, w in enumerate(best[2]):
            backend.set_param(i, backend.to_native(i, w))
        backend.commit()
        print(f"restored the weights of epoch {best[1]} (best validation loss {best[0]:.4f})")
    test = evaluate(backend, task.test, spec)
    summary = {"model": spec.name, "frontend": backend.name, "epochs": state.epoch, "steps": state.step,
               "test_loss": test["loss"], "test_accuracy": test.get("accuracy"),
               "train_seconds": t_train, "history": state.history, "data": task.source,
               "restored_epoch": best[1] if best else None}
    if spec.task != "regress":
        labels = _labels(task.test)
        cm = report.confusion(labels, test["pred"], len(task.classes))
        pc = report.per_class(cm)
        summary["per_class"] = {c: {"precision": pc["precision"][i], "recall": pc["recall"][i], "f1": pc["f1"][i]}
                                for i, c in enumerate(task.classes)}
        summary["confusion"] = cm
        summary["class_table"] = report.class_table(cm, task.classes)
    if cfg.out:
        report.write_metrics_csv(os.path.join(cfg.out, "metrics.csv"), state.history)
        if state.history:
            report.plot_curves(os.path.join(cfg.out, "curves.png"), state.history,
                               f"{spec.name} through {backend.name}")
        if "confusion" in summary:
            report.plot_confusion(os.path.join(cfg.out, "confusion.png"), summary["confusion"], task.classes,
                                  f"{spec.name} ({backend.name}): test accuracy {summary['test_accuracy']:.4f}")
        report.write_json(os.path.join(cfg.out, "summary.json"), {k: v for k, v in summary.items() if k != "class_table"})
    summary["step_losses"] = state.step_losses
    summary["test_pred"] = test.get("pred")
    return summary
