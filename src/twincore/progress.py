"""Progress bars that suit where they are written.

On a terminal: a tqdm bar, redrawn in place. On a file or a pipe (`make demo > log 2>&1`,
CI logs): a redrawn bar would leave one `\\r`-separated copy per update, so a plain line
is printed once, when the bar closes (once per epoch), with the same figures.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Any, Iterable, Iterator


class LineProgress:
    """The part of tqdm's interface the training loops use (iteration, update,
    set_postfix, close); writes one line, when closed."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", file: IO[str] | None = None):
        self.iterable, self.desc, self.unit, self.file = iterable, desc, unit, file
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n, self.postfix, self.closed, self.start = 0, {}, False, time.perf_counter()

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **kw: Any) -> None:
        self.postfix = kw

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        secs = time.perf_counter() - self.start
        of = f"/{self.total}" if self.total is not None else ""
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        print(f"{self.desc}: {self.n}{of} {self.unit} in {secs:.1f}s{extra}",
              file=self.file if self.file is not None else sys.stderr, flush=True)


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", file: IO[str] | None = None, **tqdm_kw: Any):
    """A tqdm bar when `file` (default stderr, tqdm's) is a terminal, else a LineProgress."""
    out = file if file is not None else sys.stderr
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is optional: plain lines then
            pass
        else:
            return tqdm(iterable, total=total, desc=desc, unit=unit, file=out, **tqdm_kw)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, file=out)
