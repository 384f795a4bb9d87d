"""Short alias: `import twincore.keras as tk` is twincore.frontends.keras."""

from twincore.frontends.keras import *  # noqa: F401,F403
from twincore.frontends.keras import __doc__  # noqa: F401
