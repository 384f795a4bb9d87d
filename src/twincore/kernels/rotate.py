"""Rotation + translation image transform (affine warp): forward and backward.

images: [N,C,H,W] (layout "NCHW") or [N,H,W,C] ("NHWC"), float32/float64.
angle: degrees counter-clockwise as displayed (row 0 at the top), a Python scalar /
0-d array (shared by every image) or [N] (one per image).
translate: (dx, dy) pixels, dx to the right and dy down, a pair / [2] (shared) or [N,2].
Python scalars and pairs become arrays of the images' dtype; array arguments must
already have it (and the images' device).

Each image is rotated about its centre ((H-1)/2, (W-1)/2) and then shifted; output
pixel (y, x) gathers the input at
    u = x - cx - dx,  v = y - cy - dy
    sx = cos(a) u - sin(a) v + cx,  sy = sin(a) u + cos(a) v + cy
with pixel centres on integer coordinates.

interpolation: "bilinear" | "nearest" (nearest rounds half up, floor(s + 0.5), as scipy).
fill: what samples outside the image read:
  "zeros"    0, interpolated with the inside taps (torch grid_sample padding "zeros",
             scipy mode "grid-constant" with cval=0, TF fill_mode "CONSTANT");
  "constant" fill_value, the same way (scipy "grid-constant", TF "CONSTANT");
  "nearest"  the edge pixel (scipy "nearest", TF "NEAREST", torch padding "border");
  "reflect"  half-sample symmetric, d c b a | a b c d | d c b a (scipy "reflect",
             which equals TF "REFLECT" here; torch's "reflection" differs).

Conventions of the references (checked by tests/kernels/test_rotate.py):
- scipy.ndimage.rotate(img, angle, reshape=False, order=1) rotates the same way
  (positive = counter-clockwise as displayed, about (H-1)/2, (W-1)/2), but its mode
  "constant" does not interpolate towards cval across the border (an output just
  outside [0, W-1] is cval); ours matches its "grid-constant". Translation is
  scipy.ndimage.affine_transform with matrix [[c, s], [-s, c]] (row, col) and
  offset centre - matrix @ (centre + (dy, dx)).
- tf.raw_ops.ImageProjectiveTransformV3 takes the output->input matrix: a0..a7 =
  [c, -s, cx - c(cx+dx) + s(cy+dy), s, c, cy - s(cx+dx) - c(cy+dy), 0, 0]; it rounds
  nearest half away from zero (differs from ours only at exact .5 ties).
- torch: F.affine_grid(theta, align_corners=True) + F.grid_sample(align_corners=True)
  with theta = [[c, -s b/a, (-c dx + s dy)/a], [s a/b, c, (-s dx - c dy)/b]],
  a = (W-1)/2, b = (H-1)/2 (needs H, W > 1).

Gradients: rotate_backward gives d images (the scatter of the bilinear weights),
d angle (per degree) and d translate by the chain rule through the sampling
coordinates, summed over channels and pixels of each image, and over the batch when
angle / translate was shared (dangle then 0-d, dtranslate [2]). Nearest interpolation
is piecewise constant in the coordinates: its d angle / d translate are zeros.
"""

from __future__ import annotations

import numpy as np

from twincore import _core
from twincore.kernels._array import prepare, to_core


def _param(v, images):
    """A Python scalar / sequence as an array of the images' dtype and device (torch, CuPy;
    a Meta for Meta images)."""
    if isinstance(v, (int, float, list, tuple)) or np.isscalar(v):
        mod = type(images).__module__
        if mod.startswith("torch"):
            import torch

            return torch.tensor(v, dtype=images.dtype if images.is_floating_point() else torch.float32,
                                device=images.device)
        name = str(getattr(images, "dtype", ""))
        if isinstance(images, _core.Meta):
            return _core.Meta(np.shape(v), name)
        if mod.startswith("cupy"):
            import cupy

            return cupy.asarray(v, dtype=images.dtype)
        dt = np.float64 if "float64" in name else np.float32
        return np.array(v, dtype=dt)  # keeps 0-d (ascontiguousarray would make it 1-d)
    return to_core(v)


def check_options(interpolation: str = "bilinear", fill: str = "zeros", fill_value: float = 0.0,
                  layout: str = "NCHW") -> None:
    """Validate rotate's options by the core's own rules (for layers that take them at
    construction): ValueError/TypeError naming twincore.rotate and the argument."""
    _core.rotate(_core.Meta((1, 1, 2, 2)), _core.Meta(()), _core.Meta((2,)), interpolation, fill, fill_value,
                 layout, _core.Meta)


def rotate(images, angle, translate=(0, 0), interpolation: str = "bilinear", fill: str = "zeros",
           fill_value: float = 0.0, layout: str = "NCHW"):
    """Rotate each image by `angle` degrees (counter-clockwise) about its centre, then
    shift it by translate = (dx, dy) pixels. Returns an array of images' shape and kind."""
    a, t = _param(angle, images), _param(translate, images)
    x, kind = prepare(images)
    return kind.wrap(_core.rotate(x, a, t, interpolation, fill, fill_value, layout, kind.alloc))


def rotate_backward(grad, images, angle, translate=(0, 0), interpolation: str = "bilinear",
                    fill: str = "zeros", fill_value: float = 0.0, layout: str = "NCHW",
                    need_images: bool = True, need_angle: bool = False, need_translate: bool = False,
                    deterministic: bool = True):
    """(dimages, dangle, dtranslate) for grad = d loss / d rotate(images, ...); None where
    not needed. dimages like images, dangle like angle, dtranslate like translate.
    deterministic (GPU): d images by the gather form where the fill allows it (zeros,
    constant), else by atomicAdd (the CPU is always deterministic)."""
    a, t = _param(angle, images), _param(translate, images)
    g, kind = prepare(grad)
    return kind.wrap(_core.rotate_backward(g, to_core(images), a, t, interpolation, fill, fill_value,
                                           layout, bool(need_images), bool(need_angle),
                                           bool(need_translate), bool(deterministic), kind.alloc))
