"""The test models, shared by the in-process tests and the torch / JAX backend subprocess
(backend_run.py).

Built on whatever Keras backend is active; `lib` is twincore.keras (ours) or
keras.layers / keras.losses (Keras's own, for parity).
"""
import keras
import numpy as np

OPS = ("matmul", "matmul_backward", "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
       "global_avg_pool2d", "global_avg_pool2d_backward", "softmax_cross_entropy", "mse", "mse_backward",
       "softmax", "softmax_backward", "rotate", "rotate_backward")


def sequential(lib, seed=1):
    """A small document CNN: conv s1 same relu -> conv s2 same relu -> maxpool -> dense relu -> dense."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        lib.Conv2D(4, 3, padding="same", activation="relu"),
        lib.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        lib.MaxPooling2D(2),
        keras.layers.Flatten(),
        lib.Dense(16, activation="relu"),
        lib.Dense(5),
    ], name="seq")


def functional(lib, seed=2):
    """Two inputs, two outputs, a residual connection."""
    keras.utils.set_random_seed(seed)
    img = keras.Input((10, 10, 1), name="img")
    vec = keras.Input((6,), name="vec")
    a = lib.GlobalAveragePooling2D()(lib.Conv2D(4, 3, padding="same", activation="relu")(img))
    b = lib.Dense(8, activation="tanh")(vec)
    z = lib.Dense(8, activation="relu")(keras.layers.Concatenate()([a, b]))
    r = keras.layers.Add()([z, lib.Dense(8)(z)])  # residual
    cls = lib.Dense(3, name="cls")(r)
    reg = lib.Dense(1, name="reg")(r)
    return keras.Model({"img": img, "vec": vec}, {"cls": cls, "reg": reg}, name="fun")


def rotation(lib, seed=3):
    """The document's rotation CNN: CustomConv2D -> GlobalAveragePooling2D -> Dense(softmax).
    Only our library has CustomConv2D."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        lib.CustomConv2D(filters=8, kernel_size=3, rotation_angle=30, translation_range=2, seed=4, activation="relu"),
        lib.GlobalAveragePooling2D(),
        lib.Dense(5, activation="softmax"),
    ], name="rot")


def compile_rotation(model, losses, **kw):
    model.compile(keras.optimizers.Adam(1e-2), losses.SparseCategoricalCrossentropy(), **kw)  # from probabilities


def compile_sequential(model, losses, **kw):
    model.compile(keras.optimizers.Adam(1e-2), losses.SparseCategoricalCrossentropy(from_logits=True), **kw)


def compile_functional(model, losses, **kw):
    model.compile(keras.optimizers.Adam(1e-2, clipnorm=0.5),
                  loss={"cls": losses.SparseCategoricalCrossentropy(from_logits=True), "reg": losses.MeanSquaredError()},
                  loss_weights={"cls": 1.0, "reg": 0.3}, **kw)


def data(seed=0, n=48):
    rng = np.random.default_rng(seed)
    seq = (rng.standard_normal((n, 12, 12, 1)).astype("float32"), rng.integers(0, 5, n))
    fun_x = {"img": rng.standard_normal((n, 10, 10, 1)).astype("float32"),
             "vec": rng.standard_normal((n, 6)).astype("float32")}
    fun_y = {"cls": rng.integers(0, 3, n), "reg": rng.standard_normal((n, 1)).astype("float32")}
    return seq, (fun_x, fun_y)


def datasets(seed=0, n=48):
    """{kind: (x, y)}: what each of the models above trains on."""
    seq, fun = data(seed, n)
    return {"sequential": seq, "functional": fun, "rotation": seq}
