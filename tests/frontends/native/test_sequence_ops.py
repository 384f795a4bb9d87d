"""The tape's sequence ops (lstm, embedding, sigmoid) and the native LSTM / Embedding
layers: gradients against finite differences in float64 (both weight layouts of lstm,
sequences and last state, with h0/c0), values against the kernels and Keras's LSTM."""

import numpy as np
import pytest

import twincore.frontends.native as tn
import twincore.kernels as K
from twincore.testing import check_grads, randn
from support import requires_tf


def tape_grads(graph, arrays):
    ts = [tn.Tensor(np.asarray(a, np.float64)) for a in arrays]
    with tn.GradientTape() as tape:
        tape.watch(ts)
        loss = graph(*ts)
    return [None if g is None else np.array(g.numpy()) for g in tape.gradient(loss, ts)]


def fd_check(graph, arrays, names):
    arrays = [np.array(a, np.float64) for a in arrays]
    grads = tape_grads(graph, arrays)
    check_grads(lambda: graph(*[tn.Tensor(a) for a in arrays]).item(), arrays, grads, names=names)


@pytest.mark.parametrize("keras_layout", [True, False])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_lstm_gradients(keras_layout, return_sequences):
    B, T, I, H = 2, 4, 3, 3
    wi, wh = randn((4 * H, I), seed=1, scale=0.5), randn((4 * H, H), seed=2, scale=0.5)
    if keras_layout:
        wi, wh = wi.T.copy(), wh.T.copy()
    arrays = [randn((B, T, I), seed=0), wi, wh, randn((4 * H,), seed=3), randn((B, H), seed=4), randn((B, H), seed=5)]
    w = randn((B, T, H) if return_sequences else (B, H), seed=6)

    def graph(x, k, r, b, h0, c0):
        y = tn.lstm(x, k, r, b, h0, c0, return_sequences=return_sequences, keras_layout=keras_layout)
        return tn.reduce_sum(tn.mul(y, tn.Tensor(w)))

    fd_check(graph, arrays, ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"])


def test_lstm_time_major_values_match_kernel():
    x = randn((5, 3, 4), np.float32, seed=1)
    wi, wh = randn((8, 4), np.float32, seed=2), randn((8, 2), np.float32, seed=3)
    y = tn.lstm(x, wi, wh, return_sequences=True, batch_first=False, keras_layout=False)
    np.testing.assert_array_equal(y.numpy(), K.lstm(x, wi, wh)[0])


def test_embedding_and_sigmoid_gradients():
    ids = np.array([[0, 3, 3], [2, 0, 1]])
    w = randn((2, 3, 4), seed=7)
    fd_check(lambda e: tn.reduce_sum(tn.mul(tn.sigmoid(tn.embedding(ids, e)), tn.Tensor(w))), [randn((5, 4), seed=8)],
             ["embeddings"])


def test_layers_train_and_keep_ids_integer():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, (16, 7))
    y = (ids[:, -1] > 9).astype(np.int64)  # learnable from the last token
    emb, lstm, out = tn.Embedding(20, 8, seed=0), tn.LSTM(16, seed=1), tn.Dense(2, seed=2)
    opt = tn.Adam(0.05)
    losses = []
    for _ in range(30):
        with tn.GradientTape() as tape:
            loss = tn.softmax_cross_entropy(out(lstm(emb(ids))), y)
        params = emb.trainable_variables + lstm.trainable_variables + out.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, params), params))
        losses.append(loss.item())
    assert [v.shape for v in lstm.trainable_variables] == [(8, 64), (16, 64), (64,)]
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="twincore.embedding: argument 'ids'"):
        emb(np.array([[20]]))


@requires_tf
def test_native_lstm_matches_keras_lstm():
    import keras

    x = randn((3, 5, 4), np.float32, seed=9)
    ref = keras.layers.LSTM(6)
    want = np.asarray(ref(x))
    ours = tn.LSTM(6)
    ours(x)
    for v, w in zip(ours.trainable_variables, ref.get_weights()):
        v.assign(w)
    np.testing.assert_allclose(ours(x).numpy(), want, rtol=1e-5, atol=1e-6)
