"""twincore.nn: a short alias of twincore.frontends.native (the framework-free frontend).

    import twincore.nn as nn
    model = nn.Sequential([nn.Dense(512, "relu"), nn.Dense(10)])
"""

from twincore.frontends.native import *  # noqa: F401,F403
from twincore.frontends.native import __doc__ as _native_doc  # noqa: F401
