"""Start-up: ``incidentbook --help`` cold start and the app's first paint, as medians.

References measured in the same run:
- cold start vs ``python -c pass`` with the same interpreter (the floor for any Python CLI);
- first paint vs a bare Textual app that paints one Static (the floor for any Textual app).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import save_result

RUNS = 15


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def _time_command(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def cold_start() -> dict[str, float]:
    exe = str(Path(sys.executable).parent / "incidentbook")
    help_times = [_time_command([exe, "--help"]) for _ in range(RUNS)]
    floor = [_time_command([sys.executable, "-c", "pass"]) for _ in range(RUNS)]
    return {"help_ms": _median_ms(help_times), "python_floor_ms": _median_ms(floor)}


FIRST_PAINT = r"""
import asyncio, sys, time
start = time.perf_counter()
mode, workspace = sys.argv[1], sys.argv[2]
marks = {}

def mark(name):
    marks.setdefault(name, time.perf_counter() - start)

if mode == "app":
    from incidentbook.settings import load_settings
    from incidentbook.ui.app import make_app
    from incidentbook.ui.screens.triage import TriageScreen
    mounted = TriageScreen.on_mount

    def on_mount(self):
        mounted(self)
        self.call_after_refresh(mark, "paint")  # the first frame with the Triage screen

    TriageScreen.on_mount = on_mount
    app = make_app(load_settings(workspace))
else:
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")

        def on_mount(self):
            self.call_after_refresh(mark, "paint")

    app = Bare()

async def main():
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(400):
            await pilot.pause()
            if getattr(app.screen, "loaded", False):
                mark("data")  # the database's rows are on the Triage screen
            if "paint" in marks and (mode != "app" or "data" in marks):
                break
    print(marks["paint"], marks.get("data", marks["paint"]))

asyncio.run(main())
"""


def first_paint(workspace: Path) -> dict[str, float]:
    def run(mode: str) -> tuple[float, float]:
        out = subprocess.run([sys.executable, "-c", FIRST_PAINT, mode, str(workspace)],
                             check=True, capture_output=True, text=True).stdout
        paint, data = out.strip().splitlines()[-1].split()
        return float(paint), float(data)

    app_runs = [run("app") for _ in range(RUNS)]
    bare_runs = [run("bare") for _ in range(RUNS)]
    return {"app_first_paint_ms": _median_ms([p for p, _ in app_runs]),
            "app_rows_shown_ms": _median_ms([d for _, d in app_runs]),
            "bare_textual_first_paint_ms": _median_ms([p for p, _ in bare_runs])}


def main(_argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        exe = str(Path(sys.executable).parent / "incidentbook")
        subprocess.run([exe, "init", str(workspace)], check=True, capture_output=True)
        subprocess.run([exe, "-w", str(workspace), "demo", "--accounts", "2000", "--days", "7"],
                       check=True, capture_output=True)
        result = {**cold_start(), **first_paint(workspace)}
    result["help_vs_python_floor"] = round(result["help_ms"] / result["python_floor_ms"], 2)
    result["first_paint_vs_bare_textual"] = round(
        result["app_first_paint_ms"] / result["bare_textual_first_paint_ms"], 2)
    print(json.dumps(result, indent=2))
    save_result("startup", result)


if __name__ == "__main__":
    main(sys.argv[1:])
