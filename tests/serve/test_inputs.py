"""Request parsing (twincore.serve.inputs) without a server: scaling equals the trainer's
normalisation bit for bit, images are made 28x28 grey the documented way, bad input names
its field."""

import numpy as np
import pytest

from serve.helpers import b64, png
from twincore import data as tcdata
from twincore.serve.inputs import BadInput, decode_image, images_from_json, option_top_k, values_from_json


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_0_255_values_scale_as_the_trainer_normalises(dtype):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    want = tcdata.normalize(raw).astype(dtype)  # the trainer's data are float32, cast by the backend
    got = images_from_json({"instances": raw.tolist()}, np.dtype(dtype))
    assert got.dtype == dtype and np.array_equal(got, want)
    got = images_from_json({"instances": raw.reshape(5, 784).tolist(), "scale": "0-255"}, np.dtype(dtype))
    assert np.array_equal(got, want)
    got = images_from_json({"instances": [b64(png(r)) for r in raw]}, np.dtype(dtype))
    assert np.array_equal(got, want)


def test_auto_scale_and_unit_values():
    x = np.random.default_rng(2).random((2, 28, 28)).astype(np.float32)
    assert np.array_equal(images_from_json({"instances": x.tolist()}, np.dtype(np.float32)), x)
    assert np.array_equal(images_from_json({"instances": x.tolist(), "invert": True}, np.dtype(np.float32)),
                          (1 - x.astype(np.float64)).astype(np.float32))


def test_wide_image_is_padded_not_stretched():
    item = np.random.default_rng(3).integers(100, 256, (28, 28), dtype=np.uint8)
    wide = np.zeros((28, 56), np.uint8)
    wide[:, 14:42] = item  # black border: padded to 56x56 with black, then halved
    out = decode_image(png(wide), "f").astype(int)
    assert out.shape == (28, 28)
    assert (out[:7] == 0).all() and (out[21:] == 0).all() and (out[:, :7] == 0).all() and (out[:, 21:] == 0).all()
    halved = item.reshape(14, 2, 14, 2).astype(float).mean((1, 3))
    assert np.abs(out[7:21, 7:21] - halved).max() <= 1  # an area average of each 2x2 block


def test_light_background_padding_and_alpha():
    img = np.full((20, 40), 240, np.uint8)
    img[5:15, 10:30] = 30
    out = decode_image(png(img), "f")
    assert out[0, 0] == 240 and out[-1, -1] == 240  # padded with the border's grey, not black
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[10:18, 10:18, 3] = 255  # opaque square on a transparent background
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    out = decode_image(buf.getvalue(), "f")
    assert out[0, 0] == 0 and out[12, 12] == 200  # transparency composited on black


def test_options_and_regression_values():
    assert option_top_k(None, 10) == 3 and option_top_k("5", 10) == 5 and option_top_k(10, 10) == 10
    for bad in (0, 11, "x", True, 2.5, [3]):
        with pytest.raises(BadInput) as e:
            option_top_k(bad, 10)
        assert e.value.field == "top_k" and e.value.status == 400
    v = values_from_json({"instances": [0.25, [-0.5], 1]}, np.dtype(np.float32))
    assert v.shape == (3, 1) and v.dtype == np.float32 and v[:, 0].tolist() == [0.25, -0.5, 1.0]
    for bad in (["x"], [None], [[1, 2]], [True], [float("nan")], [10 ** 400], [1e300]):
        with pytest.raises(BadInput) as e:
            values_from_json({"instances": bad}, np.dtype(np.float32))
        assert e.value.field == "instances[0]"
