"""Whole models through model.fit: graph mode == run_eagerly, == Keras's own layers,
.keras round trips, callbacks, validation_split."""
import csv
import os

import keras
import numpy as np
import pytest

import twincore.keras as tk

import keras_test_models as models
from support import has
from keras_testutil import needs

pytestmark = needs(*models.OPS)
(SEQ_X, SEQ_Y), (FUN_X, FUN_Y) = models.data()


def fit(kind, lib, losses, run_eagerly, epochs=2):
    model = getattr(models, kind)(lib)
    getattr(models, "compile_" + kind)(model, losses, run_eagerly=run_eagerly)
    x, y = (FUN_X, FUN_Y) if kind == "functional" else (SEQ_X, SEQ_Y)
    hist = model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0)
    return model, hist.history


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_graph_mode_equals_eager_and_keras_native(kind):
    graph, h_graph = fit(kind, tk, tk, run_eagerly=False)
    eager, h_eager = fit(kind, tk, tk, run_eagerly=True)
    native, h_native = fit(kind, keras.layers, keras.losses, run_eagerly=False)
    assert h_graph["loss"][-1] < h_graph["loss"][0]  # it learns
    for key in h_graph:
        np.testing.assert_allclose(h_graph[key], h_eager[key], rtol=1e-5, err_msg=key)
        np.testing.assert_allclose(h_graph[key], h_native[key], rtol=2e-4, err_msg=key)
    for a, b, c in zip(graph.weights, eager.weights, native.weights):
        assert a.path.split("/")[-1] == c.path.split("/")[-1]
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=2e-3, atol=2e-4, err_msg=a.path)


def test_rotation_cnn_graph_mode_equals_eager():
    # random rotations while training (keras.random + SeedGenerator): the same draws either way
    graph, h_graph = fit("rotation", tk, tk, run_eagerly=False)
    eager, h_eager = fit("rotation", tk, tk, run_eagerly=True)
    np.testing.assert_allclose(h_graph["loss"], h_eager["loss"], rtol=1e-5)
    for a, b in zip(graph.weights, eager.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)
    # inference does not rotate: predict is the plain convolution path, deterministic
    np.testing.assert_array_equal(graph.predict(SEQ_X, verbose=0), graph.predict(SEQ_X, verbose=0))


@pytest.mark.parametrize("kind", ["sequential", "functional", "rotation"])
def test_save_and_load_round_trip(kind, tmp_path):
    model, _ = fit(kind, tk, tk, run_eagerly=False, epochs=1)
    x = FUN_X if kind == "functional" else SEQ_X
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[1]).__module__.startswith("twincore.")
    after = loaded.predict(x, verbose=0)
    for k in (before if isinstance(before, dict) else [None]):
        np.testing.assert_array_equal(before if k is None else before[k], after if k is None else after[k])
    # the compile config came back with our losses; the loaded model trains on
    assert type(loaded.loss["cls"] if kind == "functional" else loaded.loss).__module__.startswith("twincore.")
    if kind == "sequential":
        hist = loaded.fit(x, SEQ_Y, batch_size=16, epochs=1, verbose=0)
        assert np.isfinite(hist.history["loss"]).all()


def test_callbacks_and_validation_split(tmp_path):
    model = models.sequential(tk)
    models.compile_sequential(model, tk)
    lr0 = float(model.optimizer.learning_rate.numpy())
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=100.0, patience=1),  # stops after 2 epochs
        keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", min_delta=100.0, patience=0, factor=0.5),
    ]
    if has("tensorboard"):  # tf.summary needs the tensorboard package (not a tensorflow-cpu dependency)
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")))
    hist = model.fit(SEQ_X, SEQ_Y, batch_size=12, epochs=6, validation_split=0.25, callbacks=callbacks, verbose=0)
    assert len(hist.history["loss"]) == 2  # EarlyStopping fired
    assert all(np.isfinite(hist.history["val_loss"]))
    assert float(model.optimizer.learning_rate.numpy()) < lr0  # ReduceLROnPlateau fired
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and "val_loss" in rows[0]
    best = keras.models.load_model(tmp_path / "best.keras")
    assert np.isfinite(best.predict(SEQ_X[:4], verbose=0)).all()
    if has("tensorboard"):
        events = [f for _, _, fs in os.walk(tmp_path / "tb") for f in fs if "tfevents" in f]
        assert events, "TensorBoard wrote no event file"


@pytest.mark.skipif(has("tensorboard"), reason="tensorboard installed: covered above")
def test_tensorboard_callback_needs_tensorboard_package(tmp_path):
    # Without the tensorboard package Keras's TensorBoard callback fails inside tf.summary,
    # not in our layers: our model gets as far as the first logged batch.
    model = models.sequential(tk)
    models.compile_sequential(model, tk)
    with pytest.raises(Exception, match="TensorBoard is not installed"):
        model.fit(SEQ_X, SEQ_Y, batch_size=12, epochs=1, verbose=0,
                  callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb"))])
