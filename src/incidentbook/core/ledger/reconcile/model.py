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
class Discrepancy:
    """One check's findings in one run: the accounts they touch and the money, per currency,
    of their deltas (the sum of |delta_minor|, so opposite errors do not cancel out)."""

    accounts: int
    money: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "money": dict(sorted(self.money.items()))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Discrepancy:
        money = data.get("money") or {}
        return cls(int(data.get("accounts", 0)), {str(c): int(v) for c, v in money.items()})


# the key of a complete run's summary holding its discrepancies per check (next to the
# checks' counts; a release before it ignores the key, and a summary without it is a run
# completed before it was recorded)
DISCREPANCIES_KEY = "discrepancies"


def summary_json(
    checks: dict[str, dict[str, int]], discrepancies: dict[str, Discrepancy] | None
) -> str:
    """What ``reconcile_runs.summary`` stores: per check its counts, and (under
    ``DISCREPANCIES_KEY``) its accounts and money per currency."""
    stored: dict[str, Any] = dict(checks)
    if discrepancies is not None:
        stored[DISCREPANCIES_KEY] = {c: d.to_json() for c, d in discrepancies.items()}
    return json.dumps(stored, sort_keys=True)


def stored_discrepancies(summary: str) -> dict[str, Discrepancy] | None:
    """A stored summary's discrepancies, every check of this release present (None: the run
    completed before summaries recorded them)."""
    stored = json.loads(summary).get(DISCREPANCIES_KEY)
    if stored is None:
        return None
    return {c: Discrepancy.from_json(stored.get(c, {})) for c in CHECKS}


@dataclass(frozen=True)
class FullRun:
    """A complete full run, a point of the discrepancies-over-time charts: per check (in
    CHECKS order) its findings and, unless the run was pruned before its summary recorded
    them, its accounts and money per currency."""

    run_id: str
    started_at: str
    finished_at: str
    found: dict[str, int]
    discrepancies: dict[str, Discrepancy] | None


@dataclass(frozen=True)
class LedgerLag:
    """How far the last complete run's watermark is behind the ledger: the newest entry (by
    entry id) and its ``recorded_at`` against the watermark's entry and its ``recorded_at``,
    and the entries recorded after the watermark. ``error``: the ledger could not be read
    (the other figures are then None)."""

    ledger: str
    newest_entry_id: int | None = None
    newest_recorded_at: str | None = None
    watermark_entry_id: int | None = None
    watermark_recorded_at: str | None = None
    entries_behind: int | None = None
    lag_seconds: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ReconcilerHealth:
    """The reconciler's state for the Health screen, ``stats`` and ``/metrics``: the last
    complete run (any mode), how long ago it finished (``age_seconds``) and how long it took
    (``duration_seconds``), its findings per check; an unfinished run; runs kept as
    summaries only; the complete full runs, oldest first (incremental runs check only the
    accounts that changed, so they are not points of the trend); the watermark's lag behind
    the ledger (None: not asked for, or never reconciled)."""

    ever_run: bool
    last_complete: RunBrief | None = None
    age_seconds: float | None = None
    duration_seconds: float | None = None
    last_found: dict[str, int] = field(default_factory=dict)
    unfinished: RunBrief | None = None
    pruned_runs: int = 0
    checks: tuple[str, ...] = CHECKS
    full_runs: list[FullRun] = field(default_factory=list)
    lag: LedgerLag | None = None
