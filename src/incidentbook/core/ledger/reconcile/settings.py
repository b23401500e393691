"""The ``[reconciler]`` settings of incidentbook.toml: their names, defaults and ranges, and
their validation (pure: a mapping in, checked numbers out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incidentbook.errors import UsageError

TEN_YEARS_S = 10 * 365 * 86_400


@dataclass(frozen=True)
class Setting:
    default: float
    low: float
    high: float
    whole: bool = False  # an integer, not any number


# incidentbook.toml's [reconciler] settings (``init`` writes them with these defaults)
RECONCILER_SETTINGS: dict[str, Setting] = {
    # clock_skew: how far back a recorded_at may step before it is a finding
    "clock_skew_tolerance_s": Setting(300, 1, TEN_YEARS_S),
    # incremental runs: accounts updated this long before the last run are looked at again
    "overlap_window_s": Setting(600, 0, TEN_YEARS_S),
    # incremental runs: entry ids re-read below the last run's highest
    "entry_overlap": Setting(1000, 0, 10**12, whole=True),
    # complete runs of a ledger whose findings are kept (older ones keep their summary)
    "keep_runs": Setting(20, 1, 100_000, whole=True),
}


def reconciler_settings(config: Mapping[str, Any]) -> dict[str, float]:
    """The workspace's [reconciler] section, checked. A key this release does not know, or a
    value out of range (TOML has nan and inf), is refused, not ignored: a misspelt tolerance
    would silently change findings."""
    if "reconcile" in config:
        raise UsageError(
            "incidentbook.toml: the section is [reconciler], not [reconcile]; nothing in"
            " [reconcile] is read"
        )
    cfg = config.get("reconciler", {})
    if not isinstance(cfg, dict):
        raise UsageError("incidentbook.toml: reconciler must be a section ([reconciler])")
    unknown = sorted(set(cfg) - set(RECONCILER_SETTINGS))
    if unknown:
        raise UsageError(
            f"incidentbook.toml: unknown setting reconciler.{unknown[0]}"
            f" (known: {', '.join(RECONCILER_SETTINGS)})"
        )
    values: dict[str, float] = {}
    for key, setting in RECONCILER_SETTINGS.items():
        raw = cfg.get(key, setting.default)
        kinds = (int,) if setting.whole else (int, float)
        # bool is an int to Python; nan fails every comparison, so it is out of range too
        if (
            isinstance(raw, bool)
            or not isinstance(raw, kinds)
            or not (setting.low <= raw <= setting.high)
        ):
            what = "a whole number" if setting.whole else "a number"
            raise UsageError(
                f"incidentbook.toml: reconciler.{key} must be {what} from {int(setting.low):,}"
                f" to {int(setting.high):,}, not {raw!r}"
            )
        values[key] = float(raw)
    return values


def run_options(values: dict[str, float]) -> dict[str, Any]:
    """The settings a run stores in its options, under the names runs left by earlier
    releases resume with."""
    return {
        "clock_skew_tolerance_s": values["clock_skew_tolerance_s"],
        "overlap_s": values["overlap_window_s"],
        "entry_overlap": int(values["entry_overlap"]),
    }
