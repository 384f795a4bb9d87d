"""Our own launcher (`--nproc N`): N processes on this machine, torch.multiprocessing's
spawn, rendezvous on 127.0.0.1 and a free port (what torchrun would export:
MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK).

It watches every child. When one dies (killed, crashed, out of memory) the others are
stopped at once, since a collective would otherwise wait for it forever, and the
error names the rank that died first. With restarts > 0 the whole group is started
again and resumes from the last checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Callable


class WorkerFailed(RuntimeError):
    """A child process ended badly; .rank is the rank that failed first."""

    def __init__(self, msg: str, rank: int):
        super().__init__(msg)
        self.rank = rank


def _child(fn: Callable, rank: int, world: int, port: int, cfg: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    fn(rank, world, cfg)
    exit_rank()


def exit_rank() -> None:
    """End a rank that finished its work without finalizing the interpreter.

    About one exit in twenty, torch's gloo/c10d teardown aborted in a C++ static destructor
    after destroy_process_group ("terminate called without an active exception", SIGABRT),
    turning a finished job into a failed one. Everything the rank writes is closed by now."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _stop(procs, grace: float = 3.0) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    end = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, end - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()


def launch(fn: Callable, world: int, cfg: dict, timeout: float | None = None) -> None:
    """Run fn(rank, world, cfg) in `world` spawned processes; return when all succeed.

    fn must be importable (a module-level function). Raises WorkerFailed naming the
    first rank that died (the others are stopped), or on `timeout` seconds.
    """
    import torch.multiprocessing as mp
    from twincore.distributed.common import free_port

    ctx = mp.get_context("spawn")
    port = free_port()
    procs = []
    for rank in range(world):
        p = ctx.Process(target=_child, args=(fn, rank, world, port, cfg), name=f"twincore-rank{rank}", daemon=False)
        p.start()
        procs.append(p)
    start = time.monotonic()
    try:
        while True:
            codes = [p.exitcode for p in procs]
            failed = [r for r, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                # A killed rank is the cause; the survivors' errors (a lost peer) follow from it.
                first = min(failed, key=lambda r: (codes[r] >= 0, r))
                others = [r for r in failed if r != first]
                msg = (f"twincore.distributed: rank {first} (pid {procs[first].pid}) {_describe(codes[first])}; "
                       f"stopped the other {world - 1} rank(s)")
                if others:
                    msg += " (then " + ", ".join(f"rank {r} {_describe(codes[r])}" for r in others) + ")"
                _stop(procs)
                raise WorkerFailed(msg, first)
            if all(c == 0 for c in codes):
                return
            if timeout and time.monotonic() - start > timeout:
                _stop(procs)
                raise WorkerFailed(f"twincore.distributed: timed out after {timeout:.0f} s; stopped all {world} ranks", -1)
            time.sleep(0.1)
    except BaseException:
        _stop(procs)  # KeyboardInterrupt, or the errors above: never leave a child behind
        raise


def launch_with_restarts(fn: Callable, world: int, cfg: dict, restarts: int = 0, timeout: float | None = None) -> int:
    """launch(), started again up to `restarts` times with cfg['resume'] = True.
    Returns the number of restarts used; re-raises the last WorkerFailed."""
    for attempt in range(restarts + 1):
        try:
            launch(fn, world, cfg, timeout)
            return attempt
        except WorkerFailed as e:
            if attempt == restarts or e.rank < 0:
                raise
            print(f"{e}\ntwincore.distributed: restarting all ranks from the last checkpoint "
                  f"({attempt + 1}/{restarts})", file=sys.stderr, flush=True)
            cfg = {**cfg, "resume": True}
    return restarts
