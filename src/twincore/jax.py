"""Short alias: `import twincore.jax as tj` is `twincore.frontends.jax`."""

from twincore.frontends.jax import *  # noqa: F401,F403
from twincore.frontends.jax import __doc__  # noqa: F401
