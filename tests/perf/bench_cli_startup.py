"""How long `rib --help`, `rib --version` and `rib ls models` take to answer, against `python -c "import torch"` run in
the same session (the time every command that loads torch pays first). Run on idle cores:
``python tests/perf/bench_cli_startup.py [--repeats 5]``; prints the median of each and its ratio to torch's import."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def seconds(argv: list[str], repeats: int) -> float:
    """The median wall time of ``argv`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch_s = seconds([sys.executable, "-c", "import torch"], args.repeats)
    print(f"python -c 'import torch': {torch_s:.2f} s")
    for cmd in (["--help"], ["--version"], ["ls", "models"]):
        s = seconds([sys.executable, "-m", "rib.cli", *cmd], args.repeats)
        print(f"rib {' '.join(cmd)}: {s:.2f} s ({s / torch_s:.2f}x the torch import)")


if __name__ == "__main__":
    main()
