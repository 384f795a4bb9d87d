"""CPU kernel benchmarks: ours vs NumPy/torch side by side, one table.

    python benchmarks/bench_cpu.py [--quick] [op ...]   # default: every file in benchmarks/cpu/

Each benchmarks/cpu/<op>.py defines cases(torch) -> list[harness.Case]. The table
is printed and appended to benchmarks/RESULTS.md with the CPU model and flags.
"""

import importlib
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import quick_flag, run  # noqa: E402


def main(argv: list[str]) -> None:
    import torch

    argv = quick_flag(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    names = argv or sorted(p.stem for p in (HERE / "cpu").glob("*.py") if not p.stem.startswith("_"))
    cases = []
    for name in names:
        cases += importlib.import_module(f"cpu.{name}").cases(torch)
    run(cases, "CPU kernels (benchmarks/bench_cpu.py " + " ".join(argv) + ")", str(HERE / "RESULTS.md"))


if __name__ == "__main__":
    main(sys.argv[1:])
