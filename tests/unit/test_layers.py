"""Layering and import hygiene, checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE_MODULES = [
    "incidentbook.settings",
    "incidentbook.workspace",
    "incidentbook.obs",
    "incidentbook.storage.db",
    "incidentbook.storage.models",
    "incidentbook.storage.migrations",
    "incidentbook.core.events.store",
    "incidentbook.core.events.projection",
    "incidentbook.core.incidents.model",
    "incidentbook.core.incidents.store",
    "incidentbook.core.incidents.service",
    "incidentbook.core.incidents.timeline",
    "incidentbook.core.alerts.service",
    "incidentbook.core.alerts.formats.files",
    "incidentbook.core.health.verify",
    "incidentbook.core.health.stats",
    "incidentbook.core.health.service",
    "incidentbook.services",
    "incidentbook.demo.run",
    "incidentbook.core.markdown",
    "incidentbook.cli",
    "incidentbook.cli.incident",
    "incidentbook.cli.workspace_cmds",
    "incidentbook.cli.stats",
    "incidentbook.receiver.metrics",
]


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _printed(code: str, cwd: Path) -> str:
    """What ``code`` prints in a fresh interpreter (which must succeed)."""
    result = _run(code, cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_core_storage_and_cli_never_import_textual(tmp_path: Path) -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    bad = _printed(code, tmp_path)
    assert bad == "", f"textual imported by the core: {bad}"


def test_every_core_package_module_is_free_of_textual(tmp_path: Path) -> None:
    """Also modules other parts add later: walk the core and storage packages."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import incidentbook.core, incidentbook.storage\n"
        "for pkg in (incidentbook.core, incidentbook.storage):\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if '.migrations.' in info.name and not info.name.endswith('migrations'):\n"
        "            continue\n"
        "        importlib.import_module(info.name)\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))\n"
    )
    assert _printed(code, tmp_path) == "False"


def test_imports_have_no_side_effects(tmp_path: Path) -> None:
    """Importing everything, the app included, creates no file and opens no database."""
    code = (
        "import importlib, sys\n"
        f"for name in {[*CORE_MODULES, 'incidentbook.ui.app']!r}:\n"
        "    importlib.import_module(name)\n"
        "import sqlalchemy.engine\n"
        "print('ok')\n"
    )
    env_home = tmp_path / "home"
    env_home.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            "HOME": str(env_home),
            "XDG_DATA_HOME": str(env_home / "data"),
            "PATH": "/usr/bin:/bin",
        },
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    assert list(env_home.iterdir()) == []


def test_help_imports_neither_textual_nor_sqlalchemy(tmp_path: Path) -> None:
    """``incidentbook --help`` stays fast: the heavy stacks load only when a command runs."""
    code = (
        "import sys\n"
        "from incidentbook.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('textual', 'sqlalchemy', 'sqlmodel', 'alembic')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = _run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stdout or result.stdout.rstrip().endswith("HEAVY=")


def test_scan_workers_stay_light(tmp_path: Path) -> None:
    """A reconcile worker process loads the checks and sqlite3 only: no SQLAlchemy, no
    Textual (it starts while the run is planned, so its start-up is on the clock)."""
    code = (
        "import sys\n"
        "import incidentbook.core.ledger.workers\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'textual', 'alembic', 'rich')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    assert _printed(code, tmp_path) == "[]"
