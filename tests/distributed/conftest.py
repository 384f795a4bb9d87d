"""Distributed tests: every run on 127.0.0.1, bounded by timeouts, its processes killed
at the end (tests/distributed/dist_helpers.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # for dist_helpers (pytest runs with --import-mode=importlib)
