"""Skip markers shared by the tests (import as `from support import ...`)."""
import importlib.util
import os

import pytest


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# Under the sanitizer build only numpy paths run (torch and TF are not ASan-clean themselves).
SANITIZE = os.environ.get("TWINCORE_SANITIZE") == "1"
requires_torch = pytest.mark.skipif(not has("torch") or SANITIZE, reason="needs torch")
requires_tf = pytest.mark.skipif(not has("tensorflow") or SANITIZE, reason="needs tensorflow")
