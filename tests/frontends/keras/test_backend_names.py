"""Keras 3's backend pattern: backend/tensorflow.py, torch.py and jax.py define the same public
names, so every twincore.keras layer (which calls impl.<name>) runs on every backend. Read from
the sources (no backend is imported here)."""
import ast
import pathlib

import twincore

BACKEND_DIR = pathlib.Path(twincore.__file__).parent / "frontends" / "keras" / "backend"
OWN = {"annotations", "SUPPORTS_JIT"}  # __future__ import; JAX's flag that our ops jit


def _names(module: str) -> set[str]:
    tree = ast.parse((BACKEND_DIR / f"{module}.py").read_text())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                out |= {e.id for e in (target.elts if isinstance(target, ast.Tuple) else [target])
                        if isinstance(e, ast.Name)}
        elif isinstance(node, ast.ImportFrom):
            out |= {a.asname or a.name for a in node.names}
    return {n for n in out if not n.startswith("_")} - OWN


def test_every_backend_defines_the_same_names():
    tf, torch, jax = _names("tensorflow"), _names("torch"), _names("jax")
    assert {"lstm", "embedding", "batch_norm", "conv_transpose2d", "binary_cross_entropy_with_logits"} <= tf
    assert torch == tf, (sorted(tf - torch), sorted(torch - tf))
    assert jax == tf, (sorted(tf - jax), sorted(jax - tf))
