"""HTTP helpers for the serve tests (stdlib only: http.client, no Flask test client)."""

import base64
import io
import json
import uuid

import numpy as np
from PIL import Image

from twincore.serve.loadtest import request


def png(a: np.ndarray, size: int | None = None, mode: str = "L", fmt: str = "PNG") -> bytes:
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
