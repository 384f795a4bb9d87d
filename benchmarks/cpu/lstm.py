"""LSTM fwd+bwd, batch 100, 28 steps x 28 features, hidden 128 (the lstm model's layer):
the fused kernel vs torch's nn.LSTM (CPU, oneDNN) on the same weights, and our Keras layer
vs Keras's LSTM, both inside a tf.function with a GradientTape (when TensorFlow is installed)."""

import numpy as np

import twincore.kernels as K
from harness import Case

B, T, I, H = 100, 28, 28, 128


def cases(torch):
    torch.manual_seed(0)
    m = torch.nn.LSTM(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    w_ih, w_hh = m.weight_ih_l0.detach().contiguous(), m.weight_hh_l0.detach().contiguous()
    bias = (m.bias_ih_l0 + m.bias_hh_l0).detach()
    gh = torch.randn(B, H)

    def ours():  # the classifier's use: last h only
        _, hn, _, ws = K.lstm(x, w_ih, w_hh, bias, batch_first=True, return_sequences=False)
        return K.lstm_backward(None, gh, None, x, w_ih, w_hh, None, None, ws, batch_first=True)

    def ref():
        xr = x.detach().requires_grad_()
        m.zero_grad(set_to_none=True)
        _, (hn, _) = m(xr)
        hn[0].backward(gh)
        return xr.grad

    out = [Case("lstm fwd+bwd", f"B={B} T={T} I={I} H={H} f32", ours, ref, "torch nn.LSTM", 1.0)]
    try:
        import keras
        import tensorflow as tf

        import twincore.keras as tk
    except ImportError:
        return out
    xk = tf.constant(x.numpy())
    layers = {}
    for name, layer in (("ours", tk.LSTM(H)), ("ref", keras.layers.LSTM(H))):
        layer(xk)
        layers[name] = layer
    layers["ours"].set_weights(layers["ref"].get_weights())

    def step(layer):
        @tf.function
        def f(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * gh.numpy())
            return tape.gradient(loss, [x] + layer.trainable_weights)
        return lambda: [g.numpy() for g in f(xk)]

    out.append(Case("keras LSTM layer fwd+bwd", f"B={B} T={T} I={I} H={H} f32, tf.function", step(layers["ours"]),
                    step(layers["ref"]), "keras.layers.LSTM", 1.0))
    return out
