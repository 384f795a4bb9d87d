"""JAX frontend tests. float64 is switched on for JAX in this process (check_grads needs it);
float32 tests pass float32 arrays explicitly. Keras on JAX runs in subprocesses
(test_keras_jax_backend.py), with JAX's default (x64 off)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # jax_testutil (pytest runs with --import-mode=importlib)

from support import SANITIZE, has  # noqa: E402


def _ffi_built() -> bool:
    from twincore import _core

    return bool(getattr(_core, "with_jax_ffi", False))


if not has("jax") or SANITIZE or not _ffi_built():
    collect_ignore_glob = ["test_*.py"]
else:
    import jax

    jax.config.update("jax_enable_x64", True)
