"""The reconciler's value types (options, a run in progress, a run's summary, incident
candidates, its health) and the summary text a finding's alert carries. Pure: no SQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from incidentbook.clock import parse_iso
from incidentbook.core.ledger.checks import CHECKS
from incidentbook.money import format_minor

SOURCE = "reconciler"
ACTOR = "reconciler"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReconcileOptions:
    ledger_url: str | None = None
    mode: str = "auto"  # auto | full | incremental
    resume: bool = False
    batch: int = 50_000
    max_rate: float | None = None  # accounts per second
    progress: Progress | None = None
    jobs: int | None = None  # scan processes; None: one per core (up to 4) on SQLite full runs


@dataclass
class RunSummary:
    run_id: str
    mode: str
    ledger: str
    status: str
    resumed: bool
    batches: int
    started_at: str
    finished_at: str | None
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    jobs: int = 1  # scan processes this invocation used
    worker_peak_rss_mb: float | None = None  # the largest scan worker's peak memory

    @property
    def found(self) -> int:
        return sum(c["found"] for c in self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "found": self.found}


@dataclass
class Run:
    """A run being made: its phase, the phase's cursor, its batches so far."""

    run_id: str
    mode: str
    phase: str
    cursor: dict[str, Any]
    batch: int
    options: dict[str, Any]
    watermark: dict[str, Any]
    started_at: str
    batches: int
    resumed: bool


def empty_checks() -> dict[str, dict[str, int]]:
    """Per check (in CHECKS order): found, new, resolved, all 0."""
    return {c: {"found": 0, "new": 0, "resolved": 0} for c in CHECKS}


def stored_checks(summary_json: str) -> dict[str, dict[str, int]]:
    """A run's stored summary, with every check of this release (0 for one it lacks)."""
    stored = json.loads(summary_json)
    empty = {"found": 0, "new": 0, "resolved": 0}
    return {c: {**empty, **stored.get(c, {})} for c in CHECKS}


def summary_text(
    check: str, account_id: str, currency: str, delta: int, details: dict[str, Any]
) -> str:
    """The summary a finding's alert carries (data of the alert, stored with it)."""
    if check == "balance_mismatch":
        return (
            f"{account_id}: stored {format_minor(details['stored_minor'], currency)} ≠ derived "
            f"{format_minor(details['derived_minor'], currency)} "
            f"(Δ {format_minor(delta, currency)})"
        )
    if check == "duplicate_posting":
        return (
            f"{account_id}: {details['external_ref']} posted {details['copies']}× "
            f"({details['kind']} {format_minor(details['amount_minor'], currency)})"
        )
    if check == "currency_mismatch":
        return (
            f"{account_id}: entry in {details['entry_currency']} on a "
            f"{details['account_currency']} account"
        )
    if check == "orphan_entry":
        return f"entry for unknown account {account_id} ({format_minor(delta, currency)})"
    if check == "invalid_reversal":
        return f"{account_id}: reversal of {details['reverses_entry_id']}: " + ", ".join(
            p.replace("_", " ") for p in details["problems"]
        )
    if check == "clock_skew":
        return f"recorded {details['skew_seconds']:g}s before the previous entry"
    return f"{check} {account_id}"


@dataclass(frozen=True)
class IncidentCandidate:
    """One check's firing findings, as an incident candidate on the Triage screen."""

    check: str
    severity: str
    alerts: int
    accounts: int
    delta_by_currency: dict[str, int]
    first_seen: str
    last_seen: str
    incident_id: str | None

    def line(self, timezone: str = "UTC") -> str:
        """'balance_mismatch: 4,812 accounts, Δ −1,204,331.17 EUR since 02:14'"""
        deltas = ", ".join(
            format_minor(v, c) for c, v in sorted(self.delta_by_currency.items()) if v
        )
        since = parse_iso(self.first_seen).astimezone(ZoneInfo(timezone)).strftime("%H:%M")
        noun = "account" if self.accounts == 1 else "accounts"
        money = f", Δ {deltas}" if deltas else ""
        return f"{self.check}: {self.accounts:,} {noun}{money} since {since}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}


@dataclass(frozen=True)
class RunBrief:
    """One run as the Health screen lists it."""

    run_id: str
    mode: str
    status: str
    phase: str
    batches: int
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class RunFindings:
    """A complete run's findings per check (in ``ReconcilerHealth.checks`` order)."""

    run_id: str
    mode: str
    started_at: str
    found: dict[str, int]


@dataclass(frozen=True)
class ReconcilerHealth:
    """The reconciler's state for the Health screen: the last complete run and how long ago
    it finished (lag), an unfinished run, runs kept as summaries only, findings per check of
    the latest complete runs (newest first)."""

    ever_run: bool
    last_complete: RunBrief | None = None
    lag_seconds: float | None = None
    unfinished: RunBrief | None = None
    pruned_runs: int = 0
    checks: tuple[str, ...] = CHECKS
    trend: list[RunFindings] = field(default_factory=list)
