"""twincore: one set of C++/CUDA kernels for PyTorch, Keras and a native autograd tape.

    import twincore.kernels as K           # the ops on any DLPack array (numpy, torch, TF, cupy)
    from twincore.frontends import torch   # torch.autograd.Function / nn.Module wrappers
    from twincore.frontends import keras   # tf.custom_gradient ops / keras.layers.Layer
"""

__version__ = "0.1.0"

from twincore._threads import quiet_openmp_spin as _quiet_openmp_spin

_quiet_openmp_spin()  # before torch loads its OpenMP runtime: see twincore/_threads.py
