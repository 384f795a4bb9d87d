"""Command line of the distributed runs.

    python -m twincore.distributed train --strategy sync  --nproc 2   --model mlp ...   # DDP (gloo)
    python -m twincore.distributed train --strategy async --workers 2 --model mlp ...   # RPC parameter server
    python -m twincore.distributed train --frontend keras --strategy sync --workers 2 ... # MirroredStrategy, 2 logical CPUs
    python -m twincore.distributed train --frontend keras --strategy sync --nproc 2 ...   # MultiWorkerMirroredStrategy
    python -m twincore.distributed compare --workers 2 --steps 300 --out runs/dist-compare
    torchrun --nproc-per-node 2 -m twincore.distributed train --strategy sync ...        # torchrun starts the ranks

`twincore train` takes the same options once wired: add_arguments(parser) adds the
distributed ones to its train parser, run(args) runs a job (see docs/DISTRIBUTED.md).
"""

from __future__ import annotations

import argparse
import os
import sys

from twincore.distributed.common import OP, bad, get_spec


def add_arguments(parser: argparse.ArgumentParser, standalone: bool = False) -> None:
    """The distributed options. standalone=True also adds the ones `twincore train`
    already has (--model, --frontend, --batch-size, --lr, --data, --out, --seed, --resume,
    --limit-train, --epochs, --quiet)."""
    g = parser.add_argument_group("several processes (twincore.distributed)")
    g.add_argument("--strategy", choices=("sync", "async"),
                   help="sync: data parallel (torch DDP / Keras MirroredStrategy); async: parameter server (torch)")
    g.add_argument("--workers", type=int, help="data-parallel workers: processes for torch (async: plus one "
                                                "parameter server); logical CPU replicas in one process for Keras")
    g.add_argument("--nproc", type=int, help="worker processes on this machine (torch: same as --workers; "
                                             "Keras: MultiWorkerMirroredStrategy with this many workers)")
    g.add_argument("--steps", type=int, help="optimizer updates in all (default: --epochs over the data)")
    g.add_argument("--optimizer", choices=("adam", "sgd"), help="default: the model's")
    g.add_argument("--checkpoint-every", type=int, default=50, help="updates between checkpoints (0: at the end only)")
    g.add_argument("--restarts", type=int, default=0, help="start all ranks again from the last checkpoint "
                                                            "up to this many times when one dies")
    g.add_argument("--timeout", type=float, default=None, help="stop the whole job after this many seconds")
    g.add_argument("--threads", type=int, default=1, help="compute threads per process (default 1)")
    if standalone:
        parser.add_argument("--model", default="mlp", help="mlp, deep-mlp, cnn, rotation-cnn (torch), tiny-mlp")
        parser.add_argument("--frontend", choices=("torch", "keras", "keras-native"), default="torch")
        parser.add_argument("--epochs", type=int, help="passes over the data when --steps is not given "
                                                       "(default: the model's)")
        parser.add_argument("--max-steps", type=int, help="with --epochs: at most this many steps per epoch")
        parser.add_argument("--batch-size", type=int, help="per worker (default: the model's)")
        parser.add_argument("--lr", type=float)
        parser.add_argument("--data", help="MNIST IDX folder or mnist.npz (default: Fashion-MNIST)")
        parser.add_argument("--out", help="output folder (default runs/<model>-<strategy>)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
        parser.add_argument("--limit-train", type=int, help="use only the first N training images")
        parser.add_argument("--quiet", action="store_true")


def _positive(args, name: str):
    v = getattr(args, name, None)
    if v is not None and (not isinstance(v, int) or v < 1):
        raise bad("--" + name.replace("_", "-"), f"expected a positive integer, got {v!r}")
    return v


def make_config(args) -> dict:
    """The plain dict every process of a job receives (picklable, JSON-able)."""
    spec = get_spec(args.model)
    frontend = getattr(args, "frontend", None) or "torch"
    if frontend not in ("torch", "keras", "keras-native"):
        raise bad("--frontend", f"distributed runs take torch, keras or keras-native, not {frontend!r}")
    for name in ("workers", "nproc", "steps", "batch_size", "threads", "limit_train", "epochs", "max_steps"):
        _positive(args, name)
    if getattr(args, "restarts", 0) < 0:
        raise bad("--restarts", f"expected >= 0, got {args.restarts}")
    if getattr(args, "checkpoint_every", 0) < 0:
        raise bad("--checkpoint-every", f"expected >= 0, got {args.checkpoint_every}")
    lr = args.lr if args.lr is not None else spec.lr
    if not lr > 0:
        raise bad("--lr", f"expected a positive learning rate, got {lr}")
    if getattr(args, "lr_schedule", None) == "cosine":  # the models' default is cosine; not silently dropped
        raise bad("--lr-schedule", "distributed runs use a constant learning rate (cosine: single process only)")
    b = args.batch_size or spec.batch_size
    strategy = args.strategy or "sync"
    out = args.out or os.path.join("runs", f"{spec.name}-{strategy}")
    return {"model": spec.name, "data": args.data, "seed": args.seed, "limit_train": getattr(args, "limit_train", None),
            "batch_size": b, "lr": lr, "steps": args.steps, "epochs": getattr(args, "epochs", None) or spec.epochs,
            "max_steps": getattr(args, "max_steps", None),
            "out": os.path.abspath(out), "resume": bool(getattr(args, "resume", False)),
            "checkpoint_every": getattr(args, "checkpoint_every", 50), "optimizer": getattr(args, "optimizer", None),
            "threads": getattr(args, "threads", 1) or 1, "strategy": strategy,
            "frontend": frontend, "ours": frontend != "keras-native"}


def _default_steps(cfg: dict, world: int) -> int:
    """--epochs over the training data in whole global batches of world x batch_size
    (at most --max-steps of them per epoch)."""
    from twincore.distributed.common import load_data

    per_epoch = len(load_data(cfg)) // (world * cfg["batch_size"])
    if cfg.get("max_steps"):
        per_epoch = min(per_epoch, cfg["max_steps"])
    return max(1, cfg["epochs"] * per_epoch)


def _under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ
                                                   and "TWINCORE_LAUNCHED" not in os.environ)


def _keras_argv(cfg: dict) -> list[str]:
    a = ["--model", cfg["model"], "--batch-size", str(cfg["batch_size"]), "--lr", repr(cfg["lr"]),
         "--steps", str(cfg["steps"]), "--seed", str(cfg["seed"]), "--out", cfg["out"], "--frontend", cfg["frontend"],
         "--threads", str(cfg["threads"])]
    for flag, key in (("--data", "data"), ("--limit-train", "limit_train"), ("--optimizer", "optimizer")):
        if cfg[key] is not None:
            a += [flag, str(cfg[key])]
    return a


def run(args) -> int:
    """Run one distributed job from parsed arguments; returns the exit status."""
    from twincore.distributed.launcher import WorkerFailed, exit_rank, launch_with_restarts

    try:
        cfg = make_config(args)
        workers, nproc = args.workers, args.nproc
        if workers and nproc and cfg["frontend"] == "torch" and workers != nproc:
            raise bad("--nproc", f"--workers {workers} and --nproc {nproc} disagree (for torch they are the same)")
        if cfg["frontend"].startswith("keras"):
            return _run_keras(args, cfg, workers, nproc)
        if _under_torchrun():  # torchrun started this process as one rank: just be that rank
            rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
            cfg["steps"] = cfg["steps"] or _default_steps(cfg, world if cfg["strategy"] == "sync" else 1)
            from twincore.distributed.ddp import sync_worker
            from twincore.distributed.ps import async_worker

            (sync_worker if cfg["strategy"] == "sync" else async_worker)(rank, world, cfg)
            exit_rank()
        n = workers or nproc or 2
        os.environ["TWINCORE_LAUNCHED"] = "1"
        if cfg["strategy"] == "sync":
            from twincore.distributed.ddp import sync_worker as fn
            world = n
        else:
            from twincore.distributed.ps import async_worker as fn
            world = n + 1  # the parameter server is rank 0
        cfg["steps"] = cfg["steps"] or _default_steps(cfg, n if cfg["strategy"] == "sync" else 1)
        used = launch_with_restarts(fn, world, cfg, args.restarts, args.timeout)
        if used:
            print(f"{OP}: finished after {used} restart(s)")
        return 0
    except WorkerFailed as e:
        ckpt = os.path.join(cfg["out"], "checkpoint.npz")
        hint = (f"; the last checkpoint is {ckpt}: rerun with --resume to continue from it"
                if os.path.exists(ckpt) else "; no checkpoint was written yet")
        print(f"{e}{hint}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as e:
        print(e, file=sys.stderr)
        return 2


def _run_keras(args, cfg: dict, workers, nproc) -> int:
    from twincore.distributed import keras_dist

    if cfg["strategy"] != "sync":
        raise bad("--strategy", "the Keras frontend runs sync only (MirroredStrategy / MultiWorkerMirroredStrategy); "
                                "asynchronous training is the torch parameter server (--frontend torch --strategy async)")
    if workers and nproc:
        raise bad("--nproc", "give --workers (replicas in one process) or --nproc (worker processes), not both")
    cfg["steps"] = cfg["steps"] or _default_steps(cfg, workers or nproc or 2)
    if nproc:
        keras_dist.launch_multiworker(cfg, nproc, _keras_argv(cfg), args.timeout)
    else:
        keras_dist.mirrored_main(cfg, workers or 2)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m twincore.distributed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="one distributed training job")
    add_arguments(t, standalone=True)
    k = sub.add_parser("keras-worker", help="(internal) one MultiWorkerMirroredStrategy worker; needs TF_CONFIG")
    add_arguments(k, standalone=True)
    c = sub.add_parser("compare", help="sync vs async on the same model, N workers; plots loss vs step and time")
    add_arguments(c, standalone=True)
    args = ap.parse_args(argv)
    if args.cmd == "train":
        return run(args)
    if args.cmd == "keras-worker":
        from twincore.distributed import keras_dist

        try:
            cfg = make_config(args)
        except (ValueError, TypeError) as e:
            print(e, file=sys.stderr)
            return 2
        keras_dist.multiworker_main(cfg)
        return 0
    from twincore.distributed.compare import compare_main

    return compare_main(args)
