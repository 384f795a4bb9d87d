"""Keras's own layer harness and the mixed-precision checks for every twincore Keras layer, run
the same way on each Keras backend: in this process on TensorFlow (test_mixed_precision.py),
in the existing torch and JAX child processes (backend_run.py).

run_all(tk, impl) -> {"<Layer>/<check>": "passed" | "<error>" | "skipped: <why>"}:
- "<Layer>/run_layer_test": keras.src.testing.TestCase.run_layer_test with its defaults, so its
  mixed_float16 check runs (output dtype = compute_output_spec's, float32 weights). Keras skips
  that check on torch CPU ("Torch lacks support"); the two below cover it there.
- "<Layer>/<policy>" for mixed_float16 and mixed_bfloat16 (mixed_check): the layer under the
  policy outputs the compute dtype, keeps float32 weights, agrees with the same layer in float32
  and with Keras's own layer under the same policy from the same weights, to the dtype's
  tolerance (the float64 NumPy bar on half-rounded inputs is test_mixed_precision.py's), and one
  train_on_batch step runs on the backend (backward in the compute dtype) leaving float32 weights
  that moved.
- "<Loss>/<policy>" (loss_check): our losses on half logits compute in float32 and equal Keras's.
"""
from __future__ import annotations

import traceback

import keras
import numpy as np
from keras.src import testing

# (class name, init kwargs, input shape, output shape, trainable, non-trainable, seed generators,
#  the backend functions it calls (a layer whose function the backend lacks is skipped), input dtype)
CASES = [
    ("Dense", {"units": 3, "activation": "relu"}, (2, 4), (2, 3), 2, 0, 0, ("dense",), "float32"),
    ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same", "activation": "tanh"},
     (2, 6, 6, 2), (2, 6, 6, 3), 2, 0, 0, ("conv2d",), "float32"),
    ("MaxPooling2D", {"pool_size": 2}, (2, 6, 6, 2), (2, 3, 3, 2), 0, 0, 0, ("max_pool2d",), "float32"),
    ("GlobalAveragePooling2D", {}, (2, 6, 6, 2), (2, 2), 0, 0, 0, ("global_avg_pool2d",), "float32"),
    ("CustomConv2D", {"filters": 3, "kernel_size": 3, "rotation_angle": 20.0, "translation_range": 1.0, "seed": 1},
     (2, 6, 6, 2), (2, 4, 4, 3), 2, 0, 1, ("conv2d", "rotate"), "float32"),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
     (2, 3, 3, 2), (2, 6, 6, 3), 2, 0, 0, ("conv_transpose2d",), "float32"),
    ("LeakyReLU", {"negative_slope": 0.2}, (2, 5), (2, 5), 0, 0, 0, ("leaky_relu",), "float32"),
    ("BatchNormalization", {"momentum": 0.9}, (4, 3, 3, 2), (4, 3, 3, 2), 2, 2, 0,
     ("batch_norm", "batch_norm_inference", "batch_norm_update_stats"), "float32"),
    ("Embedding", {"input_dim": 7, "output_dim": 3}, (2, 4), (2, 4, 3), 1, 0, 0, ("embedding",), "int32"),
    ("LSTM", {"units": 3, "return_sequences": True}, (2, 4, 5), (2, 4, 3), 3, 0, 0, ("lstm",), "float32"),
]
POLICIES = ("mixed_float16", "mixed_bfloat16")
# max |mixed - float32| / (1 + |float32|) over the outputs: a few roundings of the compute dtype
# (eps 2^-11 and 2^-8) through one layer
TOL = {"mixed_float16": 1e-2, "mixed_bfloat16": 6e-2}


class _Case(testing.TestCase):
    def runTest(self):  # noqa: N802 (unittest's name)
        pass


def has_functions(impl, names) -> bool:
    """Whether the backend module defines these functions (JAX lacks some: its __getattr__ raises)."""
    return all(n in vars(impl) for n in names)


def sample(shape, dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.startswith("int"):
        return rng.integers(0, 7, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _np(x) -> np.ndarray:
    x = keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))
    return np.asarray(x, np.float64)


def mixed_check(cls, kwargs: dict, x: np.ndarray, out_shape: tuple, policy: str, native_cls=None) -> None:
    """The layer under `policy` against itself in float32 and against Keras's own layer
    (native_cls, when Keras has it) under the same policy, from the same weights; raises
    AssertionError. A half kernel the backend lacks for Keras's own layer (torch CPU, TF without
    oneDNN may) skips only that comparison."""
    mixed = cls(**kwargs, dtype=policy)
    plain = cls(**kwargs)
    mixed.build(x.shape)
    plain.build(x.shape)
    for w in mixed.weights:
        assert keras.backend.standardize_dtype(w.dtype) == "float32", (w.name, w.dtype)
    plain.set_weights(mixed.get_weights())
    compute = mixed.compute_dtype
    assert compute == policy.split("_")[1], (policy, compute)
    y, y32 = mixed(x), plain(x)
    assert keras.backend.standardize_dtype(y.dtype) == compute, f"output dtype {y.dtype}, expected {compute}"
    spec = mixed.compute_output_spec(keras.KerasTensor(x.shape, dtype=compute if x.dtype.kind == "f" else x.dtype))
    assert keras.backend.standardize_dtype(spec.dtype) == compute and tuple(spec.shape) == out_shape, spec
    assert tuple(y.shape) == out_shape, (y.shape, out_shape)
    a, b = _np(y), _np(y32)
    err = float(np.max(np.abs(a - b) / (1.0 + np.abs(b))))
    assert err <= TOL[policy], f"max relative error vs float32 {err:.3g} > {TOL[policy]}"
    if native_cls is not None:
        native = native_cls(**kwargs, dtype=policy)
        native.build(x.shape)
        native.set_weights(mixed.get_weights())
        try:
            yn = native(x)
        except Exception as e:  # noqa: BLE001 (torch's RuntimeError, TF's NotFoundError, ...: all mean "no kernel")
            print(f"Keras's own {native_cls.__name__} under {policy} did not run here: {str(e)[:200]}")
        else:
            assert keras.backend.standardize_dtype(yn.dtype) == compute, yn.dtype
            err = float(np.max(np.abs(a - _np(yn)) / (1.0 + np.abs(_np(yn)))))
            assert err <= TOL[policy], f"max relative error vs Keras's own {err:.3g} > {TOL[policy]}"

    # one training step on the backend: backward through our ops in the compute dtype
    inp = keras.Input(x.shape[1:], batch_size=x.shape[0], dtype="int32" if x.dtype.kind == "i" else "float32")
    model = keras.Model(inp, mixed(inp))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = [np.array(w) for w in mixed.get_weights()]
    target = sample(out_shape, "float32", seed=9)
    loss = float(model.train_on_batch(x, target))
    assert np.isfinite(loss), loss
    for w in mixed.weights:
        assert keras.backend.standardize_dtype(w.dtype) == "float32", (w.name, w.dtype)
    if mixed.trainable_weights:
        after = mixed.get_weights()
        assert any(not np.array_equal(u, v) for u, v in zip(before, after)), "no weight moved"
        assert all(np.isfinite(v).all() for v in after)


LOSSES = [  # (class name, kwargs, the backend function it calls, sparse labels)
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "softmax_cross_entropy", True),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "softmax_cross_entropy", False),
    ("MeanSquaredError", {}, "mse", False),
    ("BinaryCrossentropy", {"from_logits": True}, "binary_cross_entropy_with_logits", False),
]


def loss_check(tk, name: str, kwargs: dict, sparse: bool, policy: str) -> None:
    """Our loss after a layer under `policy` (half logits): a float32 loss equal to Keras's own
    loss on the same logits, and a training step through it (backward into the half layer)."""
    x = sample((6, 4), "float32", seed=3)
    labels = np.arange(6) % 5
    target = labels if sparse else np.eye(5, dtype="float32")[labels]
    logits = tk.Dense(5, dtype=policy)
    logits.build(x.shape)
    y = logits(x)
    assert keras.backend.standardize_dtype(y.dtype) == policy.split("_")[1], y.dtype
    ours, native = getattr(tk, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    a, b = ours(target, y), native(target, y)
    assert keras.backend.standardize_dtype(a.dtype) == "float32" == keras.backend.standardize_dtype(b.dtype)
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, err_msg=name)
    model = keras.Sequential([keras.Input((4,)), logits])
    model.compile(keras.optimizers.SGD(0.0), ours)  # lr 0: the step's loss is the one above
    step = float(model.train_on_batch(x, target))
    assert abs(step - float(_np(b))) <= 1e-5 * abs(float(_np(b))), (name, step, _np(b))


def run_all(tk, impl, names=None) -> dict:
    """Every case (or those in `names`): Keras's run_layer_test and the mixed checks."""
    results = {}
    for name, kwargs, shape, out_shape, n_train, n_frozen, n_seed, fns, in_dtype in CASES:
        if names is not None and name not in names:
            continue
        cls = getattr(tk, name)
        if not has_functions(impl, fns):
            for check in ("run_layer_test",) + POLICIES:
                results[f"{name}/{check}"] = f"skipped: no {'/'.join(fns)} on this backend"
            continue
        case = _Case()
        case.setUp()
        try:
            case.run_layer_test(cls, kwargs, input_shape=shape, input_dtype=in_dtype,
                                expected_output_shape=out_shape, expected_num_trainable_weights=n_train,
                                expected_num_non_trainable_weights=n_frozen,
                                expected_num_seed_generators=n_seed,
                                supports_masking=name in ("BatchNormalization", "LeakyReLU"),
                                run_mixed_precision_check=True)
            results[f"{name}/run_layer_test"] = "passed"
        except Exception as e:  # reported by name; the caller asserts
            traceback.print_exc()
            results[f"{name}/run_layer_test"] = f"{type(e).__name__}: {str(e)[:400]}"
        x = sample(shape, in_dtype, seed=len(name))
        for policy in POLICIES:
            try:
                mixed_check(cls, kwargs, x, out_shape, policy, getattr(keras.layers, name, None))
                results[f"{name}/{policy}"] = "passed"
            except Exception as e:
                traceback.print_exc()
                results[f"{name}/{policy}"] = f"{type(e).__name__}: {str(e)[:400]}"
    for name, kwargs, fn, sparse in LOSSES:
        if names is not None and name not in names:
            continue
        for policy in POLICIES:
            if fn not in vars(impl):
                results[f"{name}/{policy}"] = f"skipped: no {fn} on this backend"
                continue
            try:
                loss_check(tk, name, kwargs, sparse, policy)
                results[f"{name}/{policy}"] = "passed"
            except Exception as e:
                traceback.print_exc()
                results[f"{name}/{policy}"] = f"{type(e).__name__}: {str(e)[:400]}"
    return results


def failures(results: dict) -> dict:
    return {k: v for k, v in results.items() if v != "passed" and not v.startswith("skipped")}
