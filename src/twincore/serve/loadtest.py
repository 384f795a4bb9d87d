"""Start `twincore serve` in a child process and drive it with concurrent clients (stdlib only).

Used by benchmarks/bench_serve.py and tests/serve: closed-loop clients (each sends its next
request when the previous answer arrived) on keep-alive connections, latencies per request.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    startup_seconds: float   # from spawning the process to the first 200 from /health
    banner: str

    @property
    def host_port(self) -> tuple[str, int]:
        u = urlsplit(self.url)
        return u.hostname, u.port

    def rss_mib(self) -> float:
        """Resident set size of the server process (Linux /proc)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(path: str, frontend: str = "native", workers: int = 4, timeout: float = 120.0,
                 env: dict | None = None) -> Server:
    """`python -m twincore.cli serve PATH --port 0`: waits for its URL line, then for /health."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "twincore.cli", "serve", path, "--port", "0",
                             "--frontend", frontend, "--workers", str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    lines: list[str] = []
    url = None

    def read():  # the banner's second line holds the URL; keep draining so the pipe never fills
        nonlocal url
        for line in proc.stdout:
            lines.append(line)
            if url is None and "http://" in line:
                url = line.split()[0]

    threading.Thread(target=read, daemon=True).start()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            time.sleep(0.2)
            raise RuntimeError(f"twincore serve exited with {proc.returncode}:\n{''.join(lines)}")
        if url:
            try:
                status, _, _ = request(url, "GET", "/health")
                if status == 200:
                    return Server(proc, url, time.perf_counter() - t0, "".join(lines))
            except OSError:
                pass
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"twincore serve did not answer within {timeout} s:\n{''.join(lines)}")


def request(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            conn: http.client.HTTPConnection | None = None, timeout: float = 60.0):
    """One HTTP request -> (status, headers dict, parsed JSON or the raw bytes)."""
    own = conn is None
    if own:
        u = urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        if own:
            conn.close()
    if hdrs.get("content-type", "").startswith("application/json"):
        return r.status, hdrs, json.loads(data)
    return r.status, hdrs, data


def json_body(instances, **options) -> bytes:
    return json.dumps({"instances": instances, **options}).encode()


def load(url: str, bodies: list[bytes], n_requests: int, clients: int = 8, time_limit: float = 300.0) -> dict:
    """n_requests POST /predict spread over `clients` threads, each on its own keep-alive
    connection; request k sends bodies[k % len(bodies)]. Returns latencies and error count."""
    u = urlsplit(url)
    lat: list[float] = []
    errors: list[str] = []
    counter = iter(range(n_requests))
    lock = threading.Lock()
    deadline = time.perf_counter() + time_limit

    def client():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        while time.perf_counter() < deadline:
            with lock:
                k = next(counter, None)
            if k is None:
                break
            t = time.perf_counter()
            try:
                status, _, doc = request(url, "POST", "/predict", bodies[k % len(bodies)],
                                         {"Content-Type": "application/json"}, conn=conn)
                ok = status == 200 and isinstance(doc, dict) and len(doc.get("predictions", ())) > 0
            except (OSError, http.client.HTTPException, ValueError) as e:
                ok, status = False, repr(e)
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
            dt = time.perf_counter() - t
            with lock:
                lat.append(dt)
                if not ok:
                    errors.append(str(status))
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    a = np.array(lat) * 1e3
    return {"requests": len(lat), "errors": len(errors), "error_samples": errors[:5], "clients": clients,
            "seconds": wall, "rps": len(lat) / wall if wall else 0.0,
            "p50_ms": float(np.percentile(a, 50)) if len(a) else float("nan"),
            "p99_ms": float(np.percentile(a, 99)) if len(a) else float("nan"),
            "timed_out": len(lat) < n_requests}
