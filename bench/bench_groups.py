"""``alerts groups --json`` over many firing reconciler alerts (DESIGN §4 "A group's impact").

    python -m bench groups [--faults=1250] [--repeat=30]

A synthetic SQLite ledger with ``--faults`` faults of each of four checks (duplicate_posting,
balance_mismatch, currency_mismatch, orphan_entry: 5,000 firing alerts over 4 groups by
default) is reconciled for real into a fresh workspace. Then, in process and best of
``--repeat``:

- ours: ``services.alerts.groups()`` plus the JSON encoding ``alerts groups --json`` prints;
- reference: ONE bare SQL aggregate over the alerts table (sqlite3, no ORM) yielding the same
  numbers per group (firing, worst severity, since, last seen, incident, distinct accounts,
  the deltas per currency, the first/last bad entry times), all rows fetched. Its numbers are
  asserted equal to the service's before anything is timed.

Targets: ours within 3x of the reference and under 100 ms.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import save_result

if TYPE_CHECKING:
    from incidentbook.services import Services
    from incidentbook.testing.synth import LedgerRows

CHECKS = ("duplicate_posting", "balance_mismatch", "currency_mismatch", "orphan_entry")
TARGET_RATIO = 3.0
TARGET_MS = 100.0


def _arg(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


def reference_sql(currencies: list[str]) -> str:
    """One aggregate over the alerts table: every number ``alerts groups`` shows per group.
    The deltas per currency are conditional sums over the currencies the ledger holds;
    clock_skew findings move no money (DESIGN §4), so they add none."""
    deltas = ", ".join(
        f"SUM(CASE WHEN json_extract(labels, '$.currency') = '{c}' AND name != 'clock_skew'"
        f" THEN CAST(json_extract(annotations, '$.delta_minor') AS INTEGER) END)"
        for c in currencies
    )
    return (
        "SELECT group_key, COUNT(*),"
        " MIN(CASE severity WHEN 'critical' THEN 0 WHEN 'error' THEN 1 WHEN 'warning' THEN 2"
        " ELSE 3 END),"
        " MIN(starts_at), MAX(last_seen), MAX(incident_id),"
        " COUNT(DISTINCT json_extract(labels, '$.account_id')),"
        " MIN(json_extract(annotations, '$.bad_from')),"
        " MAX(json_extract(annotations, '$.bad_to')),"
        f" {deltas}"
        " FROM alerts WHERE status = 'firing' AND source = 'reconciler' GROUP BY group_key"
    )


def reference_groups(rows: list[tuple[Any, ...]], currencies: list[str]) -> dict[str, Any]:
    severities = ("critical", "error", "warning", "info")
    out = {}
    for key, firing, rank, since, last, incident, accounts, first, bad_to, *sums in rows:
        out[key] = {
            "firing": firing,
            "severity": severities[rank],
            "since": since,
            "last_seen": last,
            "incident_id": incident,
            "accounts": accounts,
            "delta_minor_by_currency": {
                c: s for c, s in sorted(zip(currencies, sums, strict=True)) if s is not None
            },
            "first_bad_at": first,
            "last_bad_at": bad_to,
        }
    return out


def _best(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = work()
        best = min(best, time.perf_counter() - t0)
    return best, value


@dataclass
class Reconciled:
    """A fresh workspace whose alerts are a real reconcile of a synthetic ledger."""

    services: Services
    rows: LedgerRows
    expected: set[str]
    currencies: list[str]
    reconcile_seconds: float


def reconciled_workspace(faults: int, tmp: Path) -> Reconciled:
    """Under ``tmp``: a SQLite ledger with ``faults`` faults of each of ``CHECKS`` (5,000
    firing alerts over 4 groups by default), reconciled for real into a new workspace (the
    setup of this bench and of ``bench_triage``)."""
    from incidentbook.core.ledger.reconcile.model import ReconcileOptions
    from incidentbook.services import make_services
    from incidentbook.settings import load_settings
    from incidentbook.testing.synth import faulted_ledger, write_ledger
    from incidentbook.workspace import init_workspace

    rows, expected = faulted_ledger(5, max(100, faults * 5 // 2), dict.fromkeys(CHECKS, faults),
                                    decoys=0)  # fmt: skip
    currencies = sorted({e[3] for e in rows.entries} | {a[1] for a in rows.accounts})
    url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    write_ledger(url, rows)
    ws = init_workspace(tmp / "ws").workspace
    services = make_services(load_settings(ws, actor="user:bench"))
    ctx = services.context("bench", actor="reconciler")
    t0 = time.perf_counter()
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full"))
    return Reconciled(services, rows, expected, currencies, time.perf_counter() - t0)


def bench(faults: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ib-bench-") as tmp:
        setup = reconciled_workspace(faults, Path(tmp))
        services, rows, expected = setup.services, setup.rows, setup.expected
        currencies, reconcile_s = setup.currencies, setup.reconcile_seconds

        def ours() -> str:
            items = services.alerts.groups()
            return json.dumps([g.to_dict() for g in items], indent=2, sort_keys=False, default=str)

        state = sqlite3.connect(services.settings.db_path)
        sql = reference_sql(currencies)

        def reference() -> list[tuple[Any, ...]]:
            return state.execute(sql).fetchall()

        # the same numbers, before any timing
        got = {g.pop("key"): g for g in json.loads(ours())}
        want = reference_groups(reference(), currencies)
        assert got == want, (got, want)
        assert set(got) == set(CHECKS), sorted(got)
        firing = sum(g["firing"] for g in got.values())
        assert firing == len(expected), (firing, len(expected))

        ours_s, _ = _best(ours, repeat)
        ref_s, _ = _best(reference, repeat)
        state.close()
        services.db.dispose()
    return {
        "firing_alerts": firing,
        "groups": len(got),
        "ledger_entries": len(rows.entries),
        "reconcile_seconds": reconcile_s,
        "groups_json_ms": ours_s * 1000,
        "bare_aggregate_ms": ref_s * 1000,
        "ratio_groups_vs_bare_aggregate": ours_s / ref_s,
        "target_ratio": TARGET_RATIO,
        "target_ms": TARGET_MS,
        "met": ours_s / ref_s <= TARGET_RATIO and ours_s * 1000 < TARGET_MS,
        "repeat": repeat,
    }


def main(argv: list[str]) -> None:
    result = bench(_arg(argv, "faults", 1250), _arg(argv, "repeat", 30))
    print(
        f"alerts groups --json, {result['firing_alerts']} firing reconciler alerts over "
        f"{result['groups']} groups (best of {result['repeat']}):\n"
        f"  services.alerts.groups() + JSON: {result['groups_json_ms']:.1f} ms "
        f"(target < {TARGET_MS:.0f} ms)\n"
        f"  one bare SQL aggregate (reference): {result['bare_aggregate_ms']:.1f} ms\n"
        f"  ratio ours/reference: {result['ratio_groups_vs_bare_aggregate']:.2f}x "
        f"(target <= {TARGET_RATIO:.0f}x): {'met' if result['met'] else 'MISSED'}"
    )
    save_result("groups", result)


if __name__ == "__main__":
    main(sys.argv[1:])
