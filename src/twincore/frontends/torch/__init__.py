"""The PyTorch frontend: twincore's kernels as torch custom ops, functions, modules and
optimizers.

    from twincore.frontends import torch as tc
    import twincore.frontends.torch.functional as tcf   # linear, conv2d, rotate, cross_entropy, ...
    model = torch.nn.Sequential(tc.nn.Conv2d(1, 32, 3, padding="same"), tc.nn.ReLU(), ...)
    opt = tc.optim.Adam(model.parameters())

Layers: ops (torch.library custom ops `twincore::<op>` with fake kernels and autograd,
replacing torch.autograd.Function classes) -> functional (torch-style signatures) ->
nn (modules, no math) and optim (fused optimizer steps).
"""

from twincore.frontends.torch import functional, nn, ops, optim  # noqa: F401
from twincore.frontends.torch.functional import *  # noqa: F401,F403
from twincore.frontends.torch.nn import *  # noqa: F401,F403
from twincore.frontends.torch.optim import SGD, Adam  # noqa: F401
