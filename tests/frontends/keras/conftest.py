"""Keras frontend tests run on Keras's TensorFlow backend in this process; the torch
backend is tested in subprocesses (the backend is fixed when keras is imported)."""
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["KERAS_BACKEND"] = "tensorflow"

sys.path.insert(0, os.path.dirname(__file__))  # for keras_testutil, keras_test_models (pytest runs with --import-mode=importlib)

from support import has  # noqa: E402

if not has("tensorflow") or not has("keras") or os.environ.get("TWINCORE_SANITIZE") == "1":
    collect_ignore_glob = ["test_*.py"]
