"""What the distributed runs share: thread limits, free ports, the model and data of a
run, atomic checkpoints and the step log."""

from __future__ import annotations

import csv
import json
import os
import socket

import numpy as np

from twincore.workloads.specs import MODELS, Layer, Spec

OP = "twincore.distributed"

# A small model for tests and quick runs (the document models are in specs.MODELS).
TINY = Spec("tiny-mlp", "classify", (Layer("flatten"), Layer("dense", units=16, activation="relu"),
                                     Layer("dense", units=10)),
            batch_size=16, epochs=1, val=0, doc="Dense(16, relu) -> Dense(10); for tests")


def bad(arg: str, msg: str, exc=ValueError):
    """The project's error form: `twincore.distributed: argument '<arg>': ...`."""
    return exc(f"{OP}: argument '{arg}': {msg}")


def get_spec(name: str) -> Spec:
    if name == TINY.name:
        return TINY
    if name not in MODELS:
        raise bad("model", f"unknown model {name!r}; choose from {', '.join([*MODELS, TINY.name])}")
    spec = MODELS[name]
    if spec.task != "classify":
        raise bad("model", f"{name!r} is a {spec.task} model; distributed runs take the classification "
                           "models (mlp, deep-mlp, cnn, rotation-cnn, tiny-mlp)")
    return spec


def limit_threads(n: int = 1) -> None:
    """Several processes share the machine's cores: one compute thread each by default.
    Call before the core or torch start their thread pools."""
    import warnings

    # float(loss) of a tensor that requires grad; the RPC agent's object collectives: harmless, noisy.
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
    warnings.filterwarnings("ignore", message=".*_get_object_coll_device.*")
    warnings.filterwarnings("ignore", message=".*current_device.*")
    os.environ.setdefault("TWINCORE_NUM_THREADS", str(n))
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    try:
        import torch

        torch.set_num_threads(int(os.environ["TWINCORE_NUM_THREADS"]))
    except ImportError:
        pass


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_data(cfg: dict):
    """(x_train, y_train) float32 [N,28,28] / int labels of the run, from twincore.workloads.tasks."""
    from twincore.workloads.tasks import load_task

    task = load_task(get_spec(cfg["model"]), cfg.get("data"), cfg.get("seed", 0), cfg.get("limit_train"), 1)
    return task.train


def save_checkpoint(path: str, arrays: dict, meta: dict) -> None:
    """Write arrays + meta to `path` atomically: a temp file in the same folder, then
    os.replace, so a reader (or a crash) never sees a half-written checkpoint.
    Same format as twincore.workloads.trainer (meta JSON + w{i}/m{i}/v{i})."""
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> tuple[dict, dict]:
    with np.load(path) as z:
        return json.loads(str(z["meta"])), {k: z[k] for k in z.files if k != "meta"}


def write_steps(path: str, rows: list[tuple]) -> None:
    """The step log: step, seconds since the start, loss (and the worker for async)."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "seconds", "loss", "worker"])
        w.writerows(rows)
    os.replace(tmp, path)


def read_steps(path: str) -> dict:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {"step": np.array([int(r["step"]) for r in rows]), "seconds": np.array([float(r["seconds"]) for r in rows]),
            "loss": np.array([float(r["loss"]) for r in rows]), "worker": np.array([int(r["worker"]) for r in rows])}


def old_rows(path: str, upto: int) -> list[tuple]:
    """The step log of the run being resumed, up to its checkpoint's step."""
    if not os.path.exists(path):
        return []
    old = read_steps(path)
    return [(int(s), float(t), float(lo), int(w))
            for s, t, lo, w in zip(old["step"], old["seconds"], old["loss"], old["worker"]) if s <= upto]


def write_pid(out: str, rank: int) -> None:
    """out/rank<r>.pid: lets a test (or an operator) find and stop one worker."""
    with open(os.path.join(out, f"rank{rank}.pid"), "w") as f:
        f.write(str(os.getpid()))
