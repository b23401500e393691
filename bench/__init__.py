"""Benchmarks: each measures its reference in the same run and reports ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_result(name: str, result: Any) -> Path:
    """Write one benchmark's figures to ``bench/results/<name>.json`` (git-ignored)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return path
