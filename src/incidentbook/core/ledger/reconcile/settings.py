"""The ``[reconciler]`` settings of incidentbook.toml as a run uses them (pure: a mapping in,
checked numbers out; the names, defaults and ranges are ``incidentbook.config``'s)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incidentbook.config import validate_config


def reconciler_settings(config: Mapping[str, Any]) -> dict[str, float]:
    """The workspace's [reconciler] section, checked by its model (``incidentbook.config``):
    a key this release does not know, or a value out of range (TOML has nan and inf), is
    refused, not ignored: a misspelt tolerance would silently change findings."""
    section = validate_config(config).reconciler
    return {key: float(value) for key, value in section.model_dump().items()}


def run_options(values: dict[str, float]) -> dict[str, Any]:
    """The settings a run stores in its options, under the names runs left by earlier
    releases resume with."""
    return {
        "clock_skew_tolerance_s": values["clock_skew_tolerance_s"],
        "overlap_s": values["overlap_window_s"],
        "entry_overlap": int(values["entry_overlap"]),
    }
