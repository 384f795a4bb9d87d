"""Asynchronous training: a parameter server over torch.distributed.rpc.

Rank 0 is the parameter server ("ps"); ranks 1..N are workers ("worker<r>"). A worker
loops: compute the gradients of its own batch with twincore's torch modules on the
parameters it holds, push them to the PS, and get the new parameters back in the same
call. The PS applies each push at once with twincore's fused kernel (adam_step /
sgd_step), under a lock but without waiting for the other workers, so a gradient may be
a few updates stale (the log records by how many). The run ends when the PS has applied
`steps` updates; later pushes are dropped and their workers stop.

The PS writes OUT/checkpoint.npz atomically (every checkpoint_every updates and at the
end), OUT/steps.csv (one row per update: step, seconds, the pushing worker's batch loss,
the worker) and OUT/summary.json.
"""

from __future__ import annotations

import json
import os
import threading
import time

from twincore.distributed.common import (get_spec, limit_threads, load_checkpoint, load_data, old_rows,
                                         save_checkpoint, write_pid, write_steps)

_SERVER = None  # the ParameterServer of this process (rank 0 only), reached by the RPC functions below


class ParameterServer:
    """Holds the parameters (torch layout) and the optimizer state; applies pushes."""

    def __init__(self, cfg: dict, workers: int):
        import torch

        from twincore.workloads.specs import init_weights
        from twincore.workloads.torch_backend import TorchBackend

        spec = get_spec(cfg["model"])
        self.cfg, self.workers = cfg, workers
        self.backend = TorchBackend(spec, ours=True, seed=cfg["seed"])  # for the layouts and the shapes
        for i, w in enumerate(init_weights(spec, cfg["seed"])):
            self.backend.set_param(i, self.backend.to_native(i, w))
        self.params = [p.detach() for p in self.backend.params]
        self.adam = (cfg.get("optimizer") or spec.optimizer) == "adam"
        self.m = [torch.zeros_like(p) for p in self.params] if self.adam else []
        self.v = [torch.zeros_like(p) for p in self.params] if self.adam else []
        self.step, self.rows, self.stale = 0, [], []
        self.ckpt = os.path.join(cfg["out"], "checkpoint.npz")
        if cfg.get("resume") and os.path.exists(self.ckpt):
            meta, arrays = load_checkpoint(self.ckpt)
            for i, p in enumerate(self.params):
                p.copy_(self.backend.to_native(i, arrays[f"w{i}"]))
                if self.adam:
                    self.m[i].copy_(self.backend.to_native(i, arrays[f"m{i}"]))
                    self.v[i].copy_(self.backend.to_native(i, arrays[f"v{i}"]))
            self.step = meta["step"]
            self.rows = old_rows(os.path.join(cfg["out"], "steps.csv"), self.step)
            print(f"twincore.distributed: PS resumed from {self.ckpt} at step {self.step}", flush=True)
        self.lock = threading.Lock()
        self.t0 = time.perf_counter()

    def pull(self):
        with self.lock:
            if not self.rows:
                self.t0 = time.perf_counter()  # the clock starts when the workers do
            return self.step, [p.clone() for p in self.params]

    def push(self, worker: int, grads, loss: float, version: int):
        """Apply one worker's gradients now; return (step, new params) or (step, None) when done."""
        import twincore.kernels as K

        with self.lock:
            if self.step >= self.cfg["steps"]:
                return self.step, None
            self.step += 1
            for i, (p, g) in enumerate(zip(self.params, grads)):
                if self.adam:
                    K.adam_step(p, g, self.m[i], self.v[i], self.step, lr=self.cfg["lr"], flavor="torch")
                else:
                    K.sgd_step(p, g, lr=self.cfg["lr"])
            self.rows.append((self.step, time.perf_counter() - self.t0, loss, worker))
            self.stale.append(self.step - 1 - version)  # updates applied since this worker pulled
            every = self.cfg.get("checkpoint_every", 0)
            if every and self.step % every == 0:
                self.save()
            return self.step, [p.clone() for p in self.params]

    def save(self) -> None:
        arrays = {}
        for i, p in enumerate(self.params):
            arrays[f"w{i}"] = self.backend.to_canonical(i, p)
            if self.adam:
                arrays[f"m{i}"] = self.backend.to_canonical(i, self.m[i])
                arrays[f"v{i}"] = self.backend.to_canonical(i, self.v[i])
        c = self.cfg
        meta = {"model": c["model"], "frontend": "torch", "strategy": "async", "world": self.workers,
                "step": self.step, "epoch": 0, "history": [], "lr": c["lr"], "batch_size": c["batch_size"],
                "seed": c["seed"]}
        save_checkpoint(self.ckpt, arrays, meta)
        write_steps(os.path.join(c["out"], "steps.csv"), self.rows)


def _pull():
    return _SERVER.pull()


def _push(worker, grads, loss, version):
    return _SERVER.push(worker, grads, loss, version)


def _prepare(cfg: dict):
    """A worker's model and data, made before it joins (so all workers start together)."""
    from twincore.workloads.torch_backend import TorchBackend

    backend = TorchBackend(get_spec(cfg["model"]), ours=True, seed=cfg["seed"])
    train = load_data(cfg)
    if len(train) < cfg["batch_size"]:
        raise ValueError(f"twincore.distributed: argument '--batch-size': {cfg['batch_size']} exceeds the "
                         f"{len(train)} training images")
    return backend, train


def _work(rank: int, cfg: dict, backend, train) -> int:
    import torch
    import torch.distributed.rpc as rpc

    from twincore.data import batch_order

    n, b, w = len(train), cfg["batch_size"], rank - 1
    version, params = rpc.rpc_sync("ps", _pull)
    pushes, epoch = 0, 0
    while True:
        # Each worker its own shuffle of the data (its own seed), whole batches only.
        for idx in batch_order(n, b, cfg["seed"] * 1000 + w + 1, epoch)[:n // b]:
            with torch.no_grad():
                for p, q in zip(backend.params, params):
                    p.copy_(q)
            part = train.take(idx)
            loss, _, grads = backend.grad_step(part.x, part.y)
            version, params = rpc.rpc_sync("ps", _push, args=(w, [g.detach() for g in grads], loss, version))
            if params is None:
                return pushes
            pushes += 1
        epoch += 1


def async_worker(rank: int, world: int, cfg: dict) -> None:
    """One process of an asynchronous run: rank 0 the PS, the others workers."""
    global _SERVER
    limit_threads(cfg.get("threads", 1))
    import torch.distributed.rpc as rpc

    out = cfg["out"]
    os.makedirs(out, exist_ok=True)
    write_pid(out, rank)
    addr, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), os.environ["MASTER_PORT"]
    opts = rpc.TensorPipeRpcBackendOptions(init_method=f"tcp://{addr}:{port}", num_worker_threads=8,
                                           rpc_timeout=cfg.get("collective_timeout", 120))
    if rank == 0:
        _SERVER = ParameterServer(cfg, world - 1)  # ready before any worker can call
        print(f"twincore.distributed: async, parameter server + {world - 1} worker(s) x batch "
              f"{cfg['batch_size']}, {cfg['steps']} updates, {cfg['model']}", flush=True)
        rpc.init_rpc("ps", rank=0, world_size=world, rpc_backend_options=opts)
        rpc.shutdown()  # waits until every worker has finished and shut down too
        s = _SERVER
        s.save()
        stale = sorted(s.stale) or [0]
        summary = {"strategy": "async", "model": cfg["model"], "world": world - 1, "batch_size": cfg["batch_size"],
                   "steps": s.step, "seconds": time.perf_counter() - s.t0,
                   "final_loss": s.rows[-1][2] if s.rows else None,
                   "pushes_per_worker": [sum(1 for r in s.rows if r[3] == w) for w in range(world - 1)],
                   "staleness_mean": sum(stale) / len(stale), "staleness_max": stale[-1]}
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        print(f"twincore.distributed: async done, {s.step} updates (per worker {summary['pushes_per_worker']}, "
              f"mean staleness {summary['staleness_mean']:.2f}), {summary['seconds']:.1f} s; wrote {out}/", flush=True)
    else:
        backend, train = _prepare(cfg)
        rpc.init_rpc(f"worker{rank}", rank=rank, world_size=world, rpc_backend_options=opts)
        try:
            _work(rank, cfg, backend, train)
        finally:
            rpc.shutdown()
