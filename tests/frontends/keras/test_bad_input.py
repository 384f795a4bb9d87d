"""Bad input to the TF ops and the Keras layers: ValueError/TypeError naming
`twincore.<op>` and the argument, in a subprocess (a crash fails, not kills, the run)."""
from twincore.testing import run_bad_calls

from keras_testutil import has_ops

SETUP = "; ".join([  # one line: run_bad_calls pastes it into an indented script
    "import os", "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'", "import tensorflow as tf, keras",
    "from twincore.frontends.keras import tf_ops as T", "import twincore.keras as tk",
    "x = tf.ones((2, 3))", "w = tf.ones((3, 4))", "img = tf.ones((1, 5, 5, 2))", "k = tf.ones((3, 3, 2, 4))"])

# Checked by the frontend before anything crosses (also at tf.function trace time).
STATIC = [
    ("T.relu(tf.zeros(3, tf.int32))", "TypeError", "relu", "x"),
    ("T.relu(None)", "TypeError", "relu", "x"),
    ("T.tanh(tf.zeros((0, 3)))", "ValueError", "tanh", "x"),
    ("T.relu(object())", "TypeError", "relu", "x"),
    ("tf.function(lambda: T.relu(tf.zeros(3, tf.int64)))()", "TypeError", "relu", "x"),
    ("T.matmul(tf.ones((2, 3, 4, 5)), w)", "ValueError", "matmul", "a"),
    ("T.matmul(x, tf.ones((3, 4), tf.float64))", "TypeError", "matmul", "b"),
    ("T.matmul(x, w, tf.ones((4, 1)))", "ValueError", "matmul", "bias"),
    ("T.dense(x, w, None, 'gelu')", "ValueError", "dense", "activation"),
    ("T.dense(x, None)", "TypeError", "dense", "kernel"),
    ("T.conv2d(tf.ones((2, 5, 5)), k)", "ValueError", "conv2d", "x"),
    ("T.conv2d(img, tf.ones((3, 3, 2)))", "ValueError", "conv2d", "w"),
    ("T.conv2d(img, k, tf.ones(4, tf.float64))", "TypeError", "conv2d", "bias"),
    ("T.max_pool2d(tf.ones((5, 5, 2)))", "ValueError", "max_pool2d", "x"),
    ("T.global_avg_pool2d(tf.ones((5, 2)))", "ValueError", "global_avg_pool2d", "x"),
    ("T.softmax_cross_entropy(x, tf.constant([0, 1]), reduction='avg')", "ValueError", "softmax_cross_entropy",
     "reduction"),
    ("T.softmax_cross_entropy(x, tf.constant(['a', 'b']))", "TypeError", "softmax_cross_entropy", "labels"),
    ("T.softmax_cross_entropy(tf.ones(3), tf.constant([0]))", "ValueError", "softmax_cross_entropy", "logits"),
    ("T.mse(x, tf.ones((2, 3), tf.float64))", "TypeError", "mse", "target"),
    ("T.rotate(tf.ones((5, 5, 1)), 3.0)", "ValueError", "rotate", "images"),
    ("T.rotate(img, tf.ones((2, 2)))", "ValueError", "rotate", "angle"),
    # layers and losses
    ("tk.Dense(0)", "ValueError", "Dense", "units"),
    ("tk.Dense(3, dtype='int32')", "ValueError", "Dense", "dtype"),
    ("tk.Conv2D(4, 3, data_format='channels_first')", "ValueError", "Conv2D", "data_format"),
    ("tk.Conv2D(4, 3, padding='full')", "ValueError", "Conv2D", "padding"),
    ("tk.Conv2D(4, 3, groups=2)", "ValueError", "Conv2D", "groups"),
    ("tk.Conv2D(4, 0)", "ValueError", "Conv2D", "kernel_size"),
    ("tk.Conv2D(4, (3, 'a'))", "ValueError", "Conv2D", "kernel_size"),
    ("tk.Conv2D(-1, 3)", "ValueError", "Conv2D", "filters"),
    ("tk.MaxPooling2D(2, padding='x')", "ValueError", "MaxPooling2D", "padding"),
    ("tk.MaxPooling2D(0)", "ValueError", "MaxPooling2D", "pool_size"),
    ("tk.GlobalAveragePooling2D(data_format='nhwc')", "ValueError", "GlobalAveragePooling2D", "data_format"),
    ("tk.RotationConv2D(4, 3, rotation_angle=-1)", "ValueError", "RotationConv2D", "rotation_angle"),
    ("tk.RotationConv2D(4, 3, translation_range='a')", "ValueError", "RotationConv2D", "translation_range"),
    ("tk.RotationConv2D(4, 3, fill_mode='wrap')", "ValueError", "RotationConv2D", "fill_mode"),
    ("tk.RotationConv2D(4, 3, interpolation='cubic')", "ValueError", "RotationConv2D", "interpolation"),
    ("tk.CategoricalCrossentropy(label_smoothing=2)", "ValueError", "CategoricalCrossentropy", "label_smoothing"),
    ("tk.SparseCategoricalCrossentropy(axis=0)(tf.constant([1, 0]), tf.ones((2, 3)))", "ValueError",
     "SparseCategoricalCrossentropy", "axis"),
]

# Reach the kernel, which names the argument (eagerly: the call itself raises).
KERNEL = [
    ("matmul", ("T.matmul(x, tf.ones((4, 5)))", "ValueError", "matmul", "b")),
    ("matmul", ("tk.Dense(3)(tf.ones((2, 3), tf.int32))", "TypeError", "dense", "x")),
    ("conv2d", ("T.conv2d(img, tf.ones((3, 3, 3, 4)))", "ValueError", "conv2d", "w")),
    ("conv2d", ("T.conv2d(img, k, None, 1, 'full')", "ValueError", "conv2d", "padding")),
    ("conv2d", ("T.conv2d(img, k, None, 0)", "ValueError", "conv2d", "stride")),
    ("conv2d", ("T.conv2d(img, k, layout='NWHC')", "ValueError", "conv2d", "layout")),
    ("max_pool2d", ("T.max_pool2d(img, 0)", "ValueError", "max_pool2d", "kernel_size")),
    ("softmax_cross_entropy", ("T.softmax_cross_entropy(x, tf.constant([0, 1, 1]))", "ValueError",
                               "softmax_cross_entropy", "labels")),
    ("mse", ("T.mse(x, tf.ones((3, 2)))", "ValueError", "mse", "target")),
    ("rotate", ("T.rotate(img, 3.0, interpolation='cubic')", "ValueError", "rotate", "interpolation")),
    ("rotate", ("T.rotate(img, 3.0, fill='wrap')", "ValueError", "rotate", "fill")),
]


def test_bad_input():
    run_bad_calls(STATIC + [call for op, call in KERNEL if has_ops(op)], setup=SETUP)
