"""compute_output_shape and the TF ops' static shapes ask the core's rules (Meta arrays):
they equal the shapes of real outputs and of Keras's own layers for random geometries,
and unknown sizes stay None."""
import keras
import numpy as np
import pytest

import twincore.keras as tk
from twincore.frontends.keras import _shapes


@pytest.mark.parametrize("seed", range(4))
def test_compute_output_shape_equals_real_and_keras(seed):
    rng = np.random.default_rng(seed)
    for _ in range(3):
        n, h, w, c = (int(v) for v in (rng.integers(1, 3), rng.integers(4, 12), rng.integers(4, 12), rng.integers(1, 4)))
        k, s, d = int(rng.integers(1, 4)), (int(rng.integers(1, 3)), int(rng.integers(1, 3))), int(rng.integers(1, 3))
        padding = str(rng.choice(["same", "valid"]))
        d = 1 if max(s) > 1 else d  # Keras refuses strides > 1 with dilation > 1
        x = rng.standard_normal((n, h, w, c)).astype("float32")
        pairs = [(tk.layers.Conv2D(3, k, strides=s, padding=padding, dilation_rate=d),
                  keras.layers.Conv2D(3, k, strides=s, padding=padding, dilation_rate=d)),
                 (tk.layers.MaxPooling2D(k, s, padding), keras.layers.MaxPooling2D(k, s, padding))]
        for ours, native in pairs:
            want = tuple(ours(x).shape)
            assert ours.compute_output_shape(x.shape) == want
            assert want == tuple(native.compute_output_shape(x.shape))
            unknown = ours.compute_output_shape((None, h, None, c))
            assert unknown[0] is None and unknown[2] is None and unknown[1] == want[1] and unknown[3] == want[3]


def test_core_shape_bad_geometry_names_the_argument():
    import twincore.kernels as K

    with pytest.raises(ValueError, match=r"twincore.conv2d: argument 'stride': must be >= 1"):
        _shapes.core_shape(lambda a, b: K.conv2d(a, b, None, 0, "same", 1, "NHWC"), (None, 5, 5, 2), (3, 3, 2, 4))
