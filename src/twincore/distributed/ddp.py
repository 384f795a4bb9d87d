"""Synchronous data parallelism: torch DistributedDataParallel over twincore's torch
modules (gloo on CPU).

Every rank holds the whole model. Each step takes one global batch of
world * batch_size images (the same batch order as the single-process trainer),
rank r computes on its slice [r * batch_size, (r + 1) * batch_size), DDP averages the
gradients over ranks during backward (all-reduce), and every rank applies the same
update with twincore's fused kernel (adam_step / sgd_step), so the parameters stay
identical on all ranks and equal those of one process on the concatenated batch.

Started by our launcher (`--nproc N`) or by torchrun (it exports RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT; init_method "env://" reads them either way).
Rank 0 writes OUT/checkpoint.npz (atomically), OUT/steps.csv and OUT/summary.json.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

from twincore.distributed.common import (get_spec, limit_threads, load_checkpoint, load_data, old_rows,
                                         save_checkpoint, write_pid, write_steps)


def _checkpoint(path, backend, m, v, step, cfg, world):
    arrays = {}
    for i, p in enumerate(backend.params):
        arrays[f"w{i}"] = backend.to_canonical(i, p)
        if m:
            arrays[f"m{i}"] = backend.to_canonical(i, m[i])
            arrays[f"v{i}"] = backend.to_canonical(i, v[i])
    meta = {"model": cfg["model"], "frontend": "torch", "strategy": "sync", "world": world, "step": step,
            "epoch": 0, "history": [], "lr": cfg["lr"], "batch_size": cfg["batch_size"], "seed": cfg["seed"]}
    save_checkpoint(path, arrays, meta)


def sync_worker(rank: int, world: int, cfg: dict) -> None:
    """One rank of a synchronous run (cfg: see twincore.distributed.cli.make_config)."""
    limit_threads(cfg.get("threads", 1))
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import twincore.kernels as K
    from twincore.data import batch_order
    from twincore.workloads.specs import init_weights
    from twincore.workloads.torch_backend import TorchBackend

    out = cfg["out"]
    os.makedirs(out, exist_ok=True)
    write_pid(out, rank)
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world,
                            timeout=timedelta(seconds=cfg.get("collective_timeout", 120)))
    try:
        spec = get_spec(cfg["model"])
        seed, b, lr = cfg["seed"], cfg["batch_size"], cfg["lr"]
        backend = TorchBackend(spec, ours=True, seed=seed)
        for i, w in enumerate(init_weights(spec, seed)):
            backend.set_param(i, backend.to_native(i, w))
        adam = (cfg.get("optimizer") or spec.optimizer) == "adam"
        m = [backend.zeros_like(p) for p in backend.params] if adam else []
        v = [backend.zeros_like(p) for p in backend.params] if adam else []
        step, rows = 0, []
        ckpt = os.path.join(out, "checkpoint.npz")
        if cfg.get("resume") and os.path.exists(ckpt):
            meta, arrays = load_checkpoint(ckpt)
            for i in range(len(backend.params)):
                backend.set_param(i, backend.to_native(i, arrays[f"w{i}"]))
                if adam:
                    m[i].copy_(backend.to_native(i, arrays[f"m{i}"]))
                    v[i].copy_(backend.to_native(i, arrays[f"v{i}"]))
            step = meta["step"]
            rows = old_rows(os.path.join(out, "steps.csv"), step)
            if rank == 0:
                print(f"twincore.distributed: resumed from {ckpt} at step {step}", flush=True)
        # DDP broadcasts rank 0's parameters here (all ranks start equal anyway) and
        # all-reduces (averages) the gradients during backward.
        backend.model = DistributedDataParallel(backend.model)
        train = load_data(cfg)
        n, gb = len(train), b * world
        per_epoch = n // gb  # whole global batches only: every rank gets b images
        if per_epoch == 0:
            raise ValueError(f"twincore.distributed: argument '--batch-size': {world} x {b} images per step "
                             f"exceed the {n} training images")
        if rank == 0:
            print(f"twincore.distributed: sync, {world} rank(s) x batch {b}, {cfg['steps']} steps, "
                  f"{cfg['model']}", flush=True)
        order, order_epoch = None, -1
        every = cfg.get("checkpoint_every", 0)
        t0 = time.perf_counter()
        while step < cfg["steps"]:
            epoch, k = divmod(step, per_epoch)
            if epoch != order_epoch:
                order, order_epoch = batch_order(n, gb, seed, epoch), epoch
            mine = order[k][rank * b:(rank + 1) * b]
            part = train.take(mine)
            loss, _, grads = backend.grad_step(part.x, part.y)
            step += 1
            for i, (p, g) in enumerate(zip(backend.params, grads)):
                if adam:
                    K.adam_step(p, g, m[i], v[i], step, lr=lr, flavor="torch")
                else:
                    K.sgd_step(p, g, lr=lr)
            t = torch.tensor([loss], dtype=torch.float64)
            dist.all_reduce(t)  # the global batch's loss, for the log
            if rank == 0:
                rows.append((step, time.perf_counter() - t0, float(t) / world, -1))
                if every and step % every == 0:
                    _checkpoint(ckpt, backend, m, v, step, cfg, world)
                    write_steps(os.path.join(out, "steps.csv"), rows)
        if rank == 0:
            _checkpoint(ckpt, backend, m, v, step, cfg, world)
            write_steps(os.path.join(out, "steps.csv"), rows)
            summary = {"strategy": "sync", "model": cfg["model"], "world": world, "batch_size": b, "steps": step,
                       "seconds": time.perf_counter() - t0, "final_loss": rows[-1][2] if rows else None}
            with open(os.path.join(out, "summary.json"), "w") as f:
                json.dump(summary, f, indent=1)
            print(f"twincore.distributed: sync done, {step} steps, last loss "
                  f"{summary['final_loss']:.4f}, {summary['seconds']:.1f} s; wrote {out}/", flush=True)
        dist.barrier()
    finally:
        dist.destroy_process_group()
