"""HTTP helpers for the serve tests (stdlib only: http.client, no Flask test client)."""

import base64
import io
import json
import uuid

import numpy as np

from twincore.serve.loadtest import request


def png(a: np.ndarray, size: int | None = None, mode: str = "L", fmt: str = "PNG") -> bytes:
    from PIL import Image

    im = Image.fromarray(np.asarray(a, np.uint8))
    if size:
        im = im.resize((size, size), Image.Resampling.NEAREST)
    if mode != "L":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def multipart(files: list[tuple[str, str, bytes]], fields: dict | None = None) -> tuple[bytes, str]:
    """[(field, filename, bytes)] -> (body, content type)."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in (fields or {}).items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for field, name, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                  f"Content-Type: image/png\r\n\r\n".encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def post_json(server, doc, raw: bool = False):
    body = doc if raw else json.dumps(doc).encode()
    return request(server.url, "POST", "/predict", body, {"Content-Type": "application/json"})


def logits(doc) -> np.ndarray:
    return np.array([p["logits"] for p in doc["predictions"]], np.float32)


# The runs are trained in-process by the trainer itself (workloads.trainer.fit), whose
# backend then gives the test split's outputs: what the server must answer bit for bit.
class Run:
    """A finished training run: its folder, its test split (raw uint8 and normalized), and
    the trainer's own test-set outputs (backend.predict, what trainer.evaluate calls)."""

    def __init__(self, out, spec, task, raw_test, outputs, summary):
        self.out, self.spec, self.task, self.raw_test = out, spec, task, raw_test
        self.outputs, self.summary = outputs, summary


def train_run(name, data, out, steps=20, batch=20, epochs=2, frontend="native", dtype="float32"):
    from twincore import data as tcdata
    from twincore.cli import make_backend
    from twincore.workloads.specs import MODELS
    from twincore.workloads.tasks import load_task
    from twincore.workloads.trainer import RunConfig, fit

    spec = MODELS[name]
    task = load_task(spec, data, 0)
    backend = make_backend(frontend, spec, dtype=dtype)
    cfg = RunConfig(epochs=epochs, batch_size=batch, lr=spec.lr if name == "regression" else 3e-3,
                    max_steps=steps, progress=False, out=str(out), dtype=dtype)
    summary = fit(spec, backend, task, cfg)
    raw = None if spec.task == "regress" else tcdata.load(data).x_test
    return Run(str(out), spec, task, raw, backend.predict(task.test.x), summary)
