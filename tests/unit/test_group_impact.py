"""A group's impact (DESIGN §4) in ``alerts groups``: accounts, the deltas per currency and the
ledger-time window of the entries behind the findings, after a real reconcile of a real SQLite
ledger. The expected numbers are computed here from the rows written, in plain Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.core.ledger.reconcile.runs import findings
from incidentbook.services import Services
from incidentbook.testing.synth import (
    FAULT_KINDS,
    LedgerRows,
    faulted_ledger,
    write_ledger,
)
from tests.support.cli import Cli
from tests.support.impact import (
    CURRENCIES,
    ZONE,
    assert_impacts,
    expected_impact,
    impact_ledger,
    moment,
    money,
    reconcile,
)


@pytest.fixture(params=[True, False], ids=["indexed", "no-indexes"])
def reconciled(request: Any, services: Services, tmp_path: Path) -> LedgerRows:
    rows = impact_ledger()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows, indexes=request.param)
    reconcile(services, url)
    return rows


def test_the_ledger_has_what_the_test_needs() -> None:
    rows = impact_ledger()
    expected = expected_impact(rows)
    dup = expected["duplicate_posting"]
    assert set(dup["delta_minor_by_currency"]) == set(CURRENCIES)
    assert dup["accounts"] == 10
    # the stored balance took every copy for some duplicates (no balance finding there) ...
    balance_accounts = {
        a[0] for a in rows.accounts
        if a[2] != sum(e[2] for e in rows.entries if e[1] == a[0])
    }  # fmt: skip
    assert {"acc_00", "acc_02"}.isdisjoint(balance_accounts)
    # ... and only one copy for others, besides pure mismatches and an account without entries
    assert {"acc_01", "acc_03", "acc_14", "acc_23"} <= balance_accounts


def test_groups_json_carries_each_reconciler_groups_impact(
    cli: Cli, reconciled: LedgerRows
) -> None:
    expected = expected_impact(reconciled)
    groups = {g["key"]: g for g in cli.json("alerts", "groups")}
    assert set(groups) == set(expected) == {"duplicate_posting", "balance_mismatch"}
    assert_impacts(groups, expected)
    for key in expected:
        assert {"firing", "since", "last_seen", "incident_id"} <= set(groups[key])
    # accounts, not alerts: acc_00 has two repeated refs, so one account more than alerts
    assert groups["duplicate_posting"]["firing"] == expected["duplicate_posting"]["accounts"] + 1


def test_groups_text_line_and_other_sources_keep_their_counts(
    cli: Cli, reconciled: LedgerRows, tmp_path: Path
) -> None:
    config = cli.workspace / "incidentbook.toml"
    config.write_text(config.read_text().replace('timezone = "UTC"', f'timezone = "{ZONE}"'))
    alerts = tmp_path / "disk.jsonl"
    alerts.write_text(
        "".join(
            json.dumps({"source": "test", "name": "disk_full", "fingerprint": fp,
                        "status": "firing", "severity": "critical", "summary": "disk",
                        "labels": {"host": fp}, "annotations": {},
                        "starts_at": "2026-10-17T02:00:00Z", "ends_at": None}) + "\n"
            for fp in ("a", "b")
        )
    )  # fmt: skip
    cli.json("alerts", "ingest", str(alerts))
    incident = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]

    groups = {g["key"]: g for g in cli.json("alerts", "groups")}
    disk = groups["disk_full"]
    assert disk["firing"] == 2 and disk["incident_id"] is None
    # other sources' groups: the impact keys are there, null
    assert {k: disk[k] for k in ("accounts", "delta_minor_by_currency", "first_bad_at",
                                 "last_bad_at")} == dict.fromkeys(
        ("accounts", "delta_minor_by_currency", "first_bad_at", "last_bad_at")
    )  # fmt: skip

    want = expected_impact(reconciled)["duplicate_posting"]
    zone = ZoneInfo(ZONE)
    first = want["first_bad_at"].astimezone(zone)
    last = want["last_bad_at"].astimezone(zone)
    assert first.date() == last.date() != want["first_bad_at"].date()  # the zone matters
    deltas = " · ".join(money(v, c) for c, v in sorted(want["delta_minor_by_currency"].items()))
    line = (
        f"duplicate_posting  {want['accounts']} accounts  Δ {deltas}  "
        f"bad entries {first:%H:%M}–{last:%H:%M} (ledger time)  → {incident}"
    )
    result = cli("alerts", "groups")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert line in lines, result.stdout
    assert "KWD" in line and "JPY" in line and "EUR" in line
    (disk_line,) = [x for x in lines if x.startswith("disk_full")]
    assert "2 firing" in disk_line and "accounts" not in disk_line


def test_every_findings_bad_window_is_its_entries_recorded_at(
    services: Services, tmp_path: Path
) -> None:
    """bad_from/bad_to of every check's findings, against the rows' recorded_at: a duplicate's
    copies, the entry of a currency_mismatch/orphan/clock_skew finding, an invalid reversal
    and its target (if any), a mismatched balance's latest entry (none without entries)."""
    rows, expected = faulted_ledger(5, 30, dict.fromkeys(FAULT_KINDS, 3), decoys=6)
    url = f"sqlite:///{tmp_path / 'faults.sqlite'}"
    write_ledger(url, rows)
    ctx = services.context("test", actor="reconciler")
    run = services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, batch=4))
    recorded = {e[0]: e[6] for e in rows.entries}
    latest: dict[str, int] = {}
    for e in rows.entries:
        latest[e[1]] = max(latest.get(e[1], 0), e[0])
    found = findings(services.db, run.run_id)
    assert {f.fingerprint for f in found} == expected
    checked = set()
    for f in found:
        if f.check == "duplicate_posting":
            behind = list(f.details["entry_ids"])
        elif f.check == "balance_mismatch":
            behind = [latest[f.account_id]] if f.account_id in latest else []
        elif f.check == "invalid_reversal":
            behind = [f.entry_id, f.details["reverses_entry_id"]]
        else:
            behind = [f.entry_id]
        times = [recorded[i] for i in behind if i in recorded]
        if not times:
            assert "bad_from" not in f.details and "bad_to" not in f.details, f
            continue
        assert moment(f.details["bad_from"]) == min(times), f
        assert moment(f.details["bad_to"]) == max(times), f
        checked.add(f.check)
    assert checked == set(FAULT_KINDS)
    # they reach the alerts, where the groups read them
    alert = services.alerts.get(sorted(f.fingerprint for f in found)[0])
    assert alert.annotations["bad_from"] and alert.annotations["bad_to"]
