"""Where the shipped runtime files are: inside the wheel, or the top level of a source checkout."""

from __future__ import annotations

from pathlib import Path

SHIPPED = ("templates", "runbooks", "postmortems")


def shipped_dir(name: str) -> Path:
    """The shipped ``templates``, ``runbooks`` or ``postmortems`` directory."""
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped directory {name!r}")
    packaged = Path(__file__).resolve().parent / "_shipped" / name
    if packaged.is_dir():
        return packaged
    # Editable install or source checkout: src/incidentbook/ -> repository root.
    return Path(__file__).resolve().parents[2] / name
