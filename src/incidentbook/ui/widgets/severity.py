"""Severity as coloured text, the same everywhere."""

from __future__ import annotations

from rich.text import Text

SEVERITY_STYLES = {
    "critical": "bold white on red",
    "error": "bold red",
    "warning": "yellow",
    "info": "cyan",
}


def severity_text(severity: str) -> Text:
    return Text(severity, style=SEVERITY_STYLES.get(severity, ""))
