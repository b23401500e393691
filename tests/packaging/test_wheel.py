"""A real wheel, installed into a scratch venv, works on its own with its shipped files."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import REPO_ROOT

pytestmark = pytest.mark.slow

APP_CHECK = """
import asyncio, sys
from pathlib import Path
from incidentbook.resources import shipped_dir
from incidentbook.settings import load_settings
from incidentbook.ui.app import make_app

for name in ("templates", "runbooks", "postmortems"):
    folder = shipped_dir(name)
    assert "site-packages" in str(folder), folder
    print(name, sorted(p.name for p in folder.iterdir()))

async def main():
    app = make_app(load_settings(sys.argv[1]))
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            await pilot.pause()
            if app.db_ready:
                break
        print("SCREEN", type(app.screen).__name__, app.db_ready)

asyncio.run(main())
"""


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # The wheel's venv must see only the wheel: a PYTHONPATH pointing at a source tree
    # would make it import that tree instead.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                            timeout=600, env=env)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_and_runs_with_shipped_files(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, REPO_ROOT)
    (wheel,) = dist.glob("incidentbook-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "incidentbook/ui/app.tcss" in names
    assert "incidentbook/storage/migrations/env.py" in names
    for folder in ("templates", "runbooks", "postmortems"):
        shipped = {
            f"incidentbook/_shipped/{folder}/{p.relative_to(REPO_ROOT / folder).as_posix()}"
            for p in (REPO_ROOT / folder).rglob("*") if p.is_file()
        }
        assert shipped and shipped <= names, folder

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", wheel)
    helped = _run(venv / "bin" / "incidentbook", "--help")
    assert "incident" in helped.stdout
    workspace = tmp_path / "ops"
    _run(venv / "bin" / "incidentbook", "init", workspace)
    opened = _run(venv / "bin" / "incidentbook", "--workspace", workspace, "incident", "open",
                  "--title", "from the wheel", "--json")
    assert '"INC-0001"' in opened.stdout
    checked = _run(venv / "bin" / "python", "-c", APP_CHECK, workspace, cwd=tmp_path)
    assert "SCREEN TriageScreen True" in checked.stdout
