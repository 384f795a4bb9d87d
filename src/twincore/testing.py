"""Test helpers shared by the test suite and `twincore check`: random data,
closeness with readable failures, central finite differences, and a table of
bad calls run in a subprocess (so a crash fails the test instead of killing it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Callable, Sequence

import numpy as np

AWKWARD_SIZES = (1, 3, 17, 127, 513)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def randn(shape, dtype=np.float64, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def tol(dtype) -> dict:
    """Default rtol/atol for comparing a kernel in `dtype` with a float64 reference."""
    return {"rtol": 1e-4, "atol": 1e-5} if np.dtype(dtype) == np.float32 else {"rtol": 1e-10, "atol": 1e-12}


def assert_close(actual, expected, rtol: float = 1e-5, atol: float = 1e-6, what: str = "") -> None:
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
        err = np.abs(actual - expected)
        i = np.unravel_index(np.nanargmax(err), err.shape) if err.size else ()
        raise AssertionError(f"{what}: max abs err {np.nanmax(err):.3g} at {i} "
                             f"(got {actual[i]!r}, want {expected[i]!r}; rtol={rtol}, atol={atol})")


def numeric_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d x by central differences; f reads x, which is perturbed in place (float64)."""
    g = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = float(f())
        flat[i] = old - eps
        fm = float(f())
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def check_grads(loss: Callable[[], float], inputs: Sequence[np.ndarray], grads: Sequence[np.ndarray],
                rtol: float = 1e-5, atol: float = 1e-7, eps: float = 1e-6, names: Sequence[str] = ()) -> None:
    """Compare analytic `grads` of scalar `loss()` with finite differences, for each input."""
    for k, (x, g) in enumerate(zip(inputs, grads)):
        name = names[k] if k < len(names) else f"input {k}"
        assert_close(g, numeric_grad(loss, x, eps), rtol=rtol, atol=atol, what=f"gradient of {name}")


def run_bad_calls(calls: Sequence[tuple[str, str, str, str]], setup: str = "") -> None:
    """Run each bad call in one fresh interpreter and require a clean exit.

    calls: (code, exception name 'ValueError'|'TypeError', op name, argument name).
    Each call must raise that exception with "twincore.<op>" and "'<arg>'" in its message.
    """
    script = textwrap.dedent(f"""
        import json, sys, numpy as np
        import twincore.kernels as K
        {setup}
        calls = json.loads(sys.argv[1])
        out = []
        for code, exc, op, arg in calls:
            try:
                exec(code)
                out.append([code, "no exception"])
            except Exception as e:
                msg = str(e)
                ok = type(e).__name__ == exc and ("twincore." + op) in msg and ("'" + arg + "'") in msg
                out.append([code, "ok" if ok else type(e).__name__ + ": " + msg])
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(list(map(list, calls)))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"interpreter died (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = [f"{code}\n    -> {res}" for code, res in results if res != "ok"]
    assert not bad, "bad calls not rejected as expected:\n" + "\n".join(bad)
