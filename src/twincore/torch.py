"""Short alias: `import twincore.torch as tct` is `twincore.frontends.torch`."""

from twincore.frontends.torch import *  # noqa: F401,F403
from twincore.frontends.torch import functional, nn, ops, optim  # noqa: F401
