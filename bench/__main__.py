"""Run every benchmark (``python -m bench``) or some (``python -m bench startup search``).

Each ``bench/bench_<name>.py`` exposes ``main(argv: list[str]) -> None``; results are printed and
also written as JSON under ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))


def main(argv: list[str]) -> None:
    names = [a for a in argv if not a.startswith("-")] or available()
    for name in names:
        if name not in available():
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(available())}")
        print(f"== bench {name}")
        importlib.import_module(f"bench.bench_{name}").main([a for a in argv if a.startswith("-")])


if __name__ == "__main__":
    main(sys.argv[1:])
