"""twincore.serve: serve a model that `twincore train` saved, over HTTP (JSON API + a web page).

    twincore serve runs/cnn-torch [--host 127.0.0.1] [--port 8000] [--frontend native] [--workers 4]

The native frontend (default) runs the model on the C++ tape: the server imports neither
torch nor TensorFlow, whichever frontend trained the checkpoint. Flask + waitress; see app.py.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder of `twincore train` or its checkpoint.npz")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port; the URL is printed)")
    p.add_argument("--frontend", choices=("native", "torch", "keras"), default="native",
                   help="what runs the model (native: no torch/TF import, the smallest and fastest to start)")
    p.add_argument("--workers", type=int, default=4, help="waitress worker threads (one process, one model)")
    p.set_defaults(fn=cmd_serve)


def cmd_serve(args) -> int:
    try:
        from twincore.serve.app import serve
        from twincore.serve.model import ModelLoadError, load_model
    except ImportError as e:  # flask / waitress / pillow are the `serve` extra
        raise SystemExit(f"twincore serve: {e}; install them with `pip install 'twincore[serve]'`") from None
    if not 1 <= args.workers <= 256:
        raise SystemExit(f"twincore serve: --workers: expected 1..256, got {args.workers}")
    if not 0 <= args.port <= 65535:
        raise SystemExit(f"twincore serve: --port: expected 0..65535, got {args.port}")
    try:
        model = load_model(args.path, args.frontend)
    except ModelLoadError as e:
        raise SystemExit(f"twincore serve: {e}") from None
    acc = (model.summary or {}).get("test_accuracy")

    def ready(url: str) -> None:
        print(f"serving {model.version} ({model.spec.name}, trained with {model.meta.get('frontend')}"
              + (f", test accuracy {acc:.4f}" if isinstance(acc, float) else "")
              + f") through {model.frontend} with {args.workers} threads", flush=True)
        print(f"  {url}  (page)   {url}predict  (POST)   {url}model   {url}health", flush=True)

    try:
        serve(model, args.host, args.port, args.workers, on_ready=ready)
    except OSError as e:  # port taken, address not available
        raise SystemExit(f"twincore serve: cannot listen on {args.host}:{args.port}: {e}") from None
    return 0
