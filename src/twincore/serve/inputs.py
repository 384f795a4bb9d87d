"""Requests -> model inputs, with every bad input answered as BadInput(status, field, message).

Images reach the model as Fashion-MNIST's do: 28x28 grey, a light item on a dark background,
values / 255 in the model's dtype (twincore.data.normalize), so a test image sent as its
0-255 integers, or as a 28x28 PNG, gives the trainer's numbers exactly.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from typing import Any

import numpy as np

MAX_INSTANCES = 1024                 # images per request
MAX_IMAGE_PIXELS = 4096 * 4096       # larger images answer 413 before they are decoded
SCALES = ("auto", "0-255", "0-1")


class BadInput(Exception):
    """A 4xx answer: status, the request field at fault, and what is wrong with it."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def parse_json_body(body: bytes) -> dict:
    try:
        doc = json.loads(body)
    except RecursionError:
        raise BadInput(400, "body", "JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(400, "body", f"malformed JSON ({e})") from None
    if not isinstance(doc, dict):
        raise BadInput(400, "body", f'expected a JSON object {{"instances": [...]}}, got {type(doc).__name__}')
    return doc


def option_top_k(value: Any, n_classes: int) -> int:
    if value is None:
        return min(3, n_classes)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= n_classes:
        raise BadInput(400, "top_k", f"expected an integer in [1, {n_classes}], got {value!r}")
    return value


def option_invert(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.lower() in ("1", "true", "yes", "on")
    raise BadInput(400, "invert", f"expected true or false, got {value!r}")


def option_scale(value: Any) -> str:
    if value is None:
        return "auto"
    if value not in SCALES:
        raise BadInput(400, "scale", f"expected one of {', '.join(SCALES)}, got {value!r}")
    return value


def decode_image(data: bytes, field: str, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """PNG/JPEG bytes -> [28, 28] uint8: alpha composited on black, grey (Pillow's L: ITU-R 601
    luma), padded to a square with its border's median grey, resized to 28x28 (area average)."""
    from PIL import Image, ImageOps

    if not data:
        raise BadInput(400, field, "empty image")
    try:
        im = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
    except Image.DecompressionBombError as e:
        raise BadInput(413, field, f"image too large ({e})") from None
    except Exception:  # noqa: BLE001 - untrusted bytes: Pillow raises many kinds
        raise BadInput(400, field, "not a PNG or JPEG image") from None
    w, h = im.size
    if w * h > max_pixels:
        raise BadInput(413, field, f"image of {w}x{h} pixels is over the limit of {max_pixels} pixels")
    if w < 1 or h < 1:
        raise BadInput(400, field, f"image of {w}x{h} pixels is empty")
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im.convert("RGBA"))
        g = im.convert("L")
    except Exception as e:  # noqa: BLE001 - truncated or corrupt data fails here, not in open()
        raise BadInput(400, field, f"corrupt {im.format} image ({type(e).__name__}: {e})") from None
    if g.size != (28, 28):
        a = np.asarray(g)
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        side = max(g.size)
        square = Image.new("L", (side, side), int(np.median(border)))
        square.paste(g, ((side - g.size[0]) // 2, (side - g.size[1]) // 2))
        # shrinking: an area average (an exact inverse of a whole-factor upscale); growing: Lanczos
        g = square.resize((28, 28), Image.Resampling.BOX if side >= 28 else Image.Resampling.LANCZOS)
    return np.asarray(g, np.uint8)


def _b64_image(s: str, field: str) -> np.ndarray:
    if s.startswith("data:"):
        s = s.split(",", 1)[-1]  # a data URL: data:image/png;base64,....
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(400, field, "not a base64-encoded PNG/JPEG string") from None
    return decode_image(raw, field)


def _array_image(inst: Any, field: str, scale: str) -> tuple[np.ndarray, float]:
    """A 28x28 (or flat 784, or 28x28x1) array -> (float64 values, the scale's top: 255 or 1)."""
    try:
        a = np.array(inst)
    except (ValueError, TypeError):
        raise BadInput(400, field, "ragged nested lists: expected a 28x28 array") from None
    if a.dtype.kind not in "iuf":
        raise BadInput(400, field, f"expected numbers, got {_kind(a)}")
    if a.shape not in ((28, 28), (784,), (28, 28, 1)):
        raise BadInput(400, field, f"expected a 28x28 array (or 784 numbers), got shape {list(a.shape)}")
    a = a.reshape(28, 28).astype(np.float64)
    if not np.isfinite(a).all():
        raise BadInput(400, field, "NaN or infinite value")
    lo, hi = float(a.min()), float(a.max())
    top = 255.0 if scale == "0-255" or (scale == "auto" and hi > 1) else 1.0
    if lo < 0 or hi > top:
        raise BadInput(400, field, f"values must lie in [0, {top:g}] (scale {scale}), found [{lo:g}, {hi:g}]")
    return a, top


def _kind(a: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "S": "strings"}.get(a.dtype.kind, "non-numeric values")


def images_from_json(doc: dict, dtype: np.dtype, max_instances: int = MAX_INSTANCES) -> np.ndarray:
    """{"instances": [...], "scale": ..., "invert": ...} -> [N, 28, 28] in [0, 1], dtype."""
    insts = _instances(doc, max_instances)
    scale, invert = option_scale(doc.get("scale")), option_invert(doc.get("invert"))
    out = np.empty((len(insts), 28, 28), dtype)
    for i, inst in enumerate(insts):
        field = f"instances[{i}]"
        if isinstance(inst, dict):
            if set(inst) != {"b64"} or not isinstance(inst["b64"], str):
                raise BadInput(400, field, 'expected an array, a base64 string, or {"b64": "<base64>"}')
            inst = inst["b64"]
        if isinstance(inst, str):
            out[i] = to_model_scale(_b64_image(inst, field), 255.0, invert, dtype)
        else:
            a, top = _array_image(inst, field, scale)
            out[i] = to_model_scale(a, top, invert, dtype)
    return out


def to_model_scale(a: np.ndarray, top: float, invert: bool, dtype: np.dtype) -> np.ndarray:
    """Values in [0, top] -> [0, 1] as the trainer's data are: twincore.data.normalize (x / 255 in
    float32, the data's dtype whatever the model's), then cast to the model's dtype."""
    if invert:
        a = top - np.asarray(a, np.float64)
    a = np.asarray(a).astype(np.float32)
    if top == 255.0:
        a = (a / np.float32(255.0)).astype(np.float32, copy=False)
    return a.astype(dtype, copy=False)


def images_from_files(items: list, invert: bool, dtype: np.dtype, max_instances: int = MAX_INSTANCES) -> np.ndarray:
    """[(field name, bytes)] of uploaded files -> [N, 28, 28] in [0, 1], dtype."""
    if not items:
        raise BadInput(400, "image", "no file in the multipart upload (send one or more files as 'image')")
    if len(items) > max_instances:
        raise BadInput(413, "image", f"{len(items)} files: at most {max_instances} per request")
    out = np.empty((len(items), 28, 28), dtype)
    for i, (name, data) in enumerate(items):
        out[i] = to_model_scale(decode_image(data, name), 255.0, invert, dtype)
    return out


def values_from_json(doc: dict, dtype: np.dtype, max_instances: int = MAX_INSTANCES) -> np.ndarray:
    """The regression model: {"instances": [x, ...] or [[x], ...]} -> [N, 1]."""
    insts = _instances(doc, max_instances)
    out = np.empty((len(insts), 1), dtype)
    for i, inst in enumerate(insts):
        field = f"instances[{i}]"
        v = inst[0] if isinstance(inst, list) and len(inst) == 1 else inst
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadInput(400, field, f"expected a number x or [x], got {json.dumps(inst)[:40]}")
        try:
            f = float(v)
        except OverflowError:
            f = float("inf")
        if not np.isfinite(f) or abs(f) > float(np.finfo(dtype).max):
            raise BadInput(400, field, "NaN or infinite value (or out of the model's float range)")
        out[i, 0] = f
    return out


def _instances(doc: dict, max_instances: int) -> list:
    if "instances" not in doc:
        raise BadInput(400, "instances", 'missing: send {"instances": [...]}')
    insts = doc["instances"]
    if not isinstance(insts, list) or not insts:
        raise BadInput(400, "instances", "expected a non-empty list")
    if len(insts) > max_instances:
        raise BadInput(413, "instances", f"{len(insts)} instances: at most {max_instances} per request")
    return insts
