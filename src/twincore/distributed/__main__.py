"""python -m twincore.distributed ... (see twincore.distributed.cli)."""

import sys

from twincore.distributed.cli import main

if __name__ == "__main__":
    sys.exit(main())
