"""The title of an incident opened from a reconciler group (issue 12): '<check>: N accounts,
Δ <money per currency>', kept current as the group changes by ``incident.retitled`` events,
one per change of title and run, none when nothing changed. A real SQLite ledger, a real
reconcile; the expected titles are built here from the rows, in plain Python."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from incidentbook.context import Context
from incidentbook.core.alerts.model import GroupImpact, NativeAlert, group_incident_title
from incidentbook.core.health.verify import run_verify
from incidentbook.services import Services
from incidentbook.testing.synth import EntryRow, LedgerRows, write_ledger
from tests.support.impact import expected_impact, impact_ledger, money, reconcile

RETITLED = "incident.retitled"


def _title(check: str, rows: LedgerRows) -> str:
    """The title the group's incident should carry, from the rows alone."""
    want = expected_impact(rows)[check]
    n = want["accounts"]
    parts = [money(v, c) for c, v in sorted(want["delta_minor_by_currency"].items()) if v]
    head = f"{check}: {n:,} {'account' if n == 1 else 'accounts'}"
    return f"{head}, Δ {' · '.join(parts)}" if parts else head


def _copies(rows: LedgerRows, account: str) -> list[EntryRow]:
    """The repeated copies of ``account``'s duplicate postings (every copy but the first)."""
    seen: set[tuple[object, ...]] = set()
    extra: list[EntryRow] = []
    for e in sorted(rows.entries, key=lambda e: e[0]):
        if e[1] != account:
            continue
        key = (e[1], e[7], e[4], e[2])
        if key in seen:
            extra.append(e)
        seen.add(key)
    return extra


def _retitles(services: Services, incident_id: str) -> list[tuple[str, dict[str, object]]]:
    return [
        (e.actor, e.data) for e in services.incidents.timeline(incident_id) if e.type == RETITLED
    ]


def _verify_ok(services: Services) -> None:
    results = run_verify(services.settings, services.db)
    assert all(r.ok for r in results), [r.problems for r in results]


def test_a_group_incident_is_titled_with_its_impact_and_follows_the_group(
    services: Services, ctx: Context, tmp_path: Path
) -> None:
    rows = impact_ledger()
    path = tmp_path / "ledger.sqlite"
    url = f"sqlite:///{path}"
    write_ledger(url, rows)
    reconcile(services, url)  # actor "reconciler"
    dup = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident
    assert dup.title == _title("duplicate_posting", rows)
    assert dup.title.startswith("duplicate_posting: 10 accounts, Δ ")
    assert " JPY" in dup.title and " KWD" in dup.title and " EUR" in dup.title
    assert _retitles(services, dup.id) == []  # opened with it: no retitle
    # an incident opened by hand, which a group joins, keeps the title it was given
    manual = services.incidents.open(ctx, "Balances off tonight", "critical").incident
    services.alerts.acknowledge_group(ctx, "balance_mismatch", incident_id=manual.id)
    balance_title = _title("balance_mismatch", rows)

    # nothing changed: a reconcile records no retitle; neither does a repeated ack-group
    reconcile(services, url)
    again = services.alerts.acknowledge_group(ctx, "duplicate_posting")
    assert not again.changed and again.incident.title == dup.title
    assert _retitles(services, dup.id) == []

    # fix the duplicates of two accounts (delete their extra copies): one retitle event
    fixed = _copies(rows, "acc_00") + _copies(rows, "acc_01")
    assert fixed
    conn = sqlite3.connect(path)
    conn.executemany("DELETE FROM ledger_entries WHERE entry_id = ?", [(e[0],) for e in fixed])
    conn.commit()
    conn.close()
    gone = {e[0] for e in fixed}
    rows = LedgerRows(accounts=rows.accounts, entries=[e for e in rows.entries if e[0] not in gone])
    reconcile(services, url)
    after_fix = services.incidents.get(dup.id)
    assert after_fix.title == _title("duplicate_posting", rows) != dup.title
    assert after_fix.title.startswith("duplicate_posting: 8 accounts, Δ ")
    assert _retitles(services, dup.id) == [
        ("reconciler", {"from": dup.title, "to": after_fix.title})
    ]
    assert services.incidents.get(manual.id).title == "Balances off tonight"
    assert _title("balance_mismatch", rows) != balance_title  # that group changed too
    _verify_ok(services)

    # the same ledger again: no new event
    reconcile(services, url)
    assert len(_retitles(services, dup.id)) == 1
    assert services.incidents.get(dup.id).title == after_fix.title

    # a new duplicate (another account): its alert joins, the title grows, one more event
    source = next(e for e in rows.entries if e[1] == "acc_12")
    new_id = max(e[0] for e in rows.entries) + 1
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO ledger_entries SELECT ?, account_id, amount_minor, currency, kind,"
        " occurred_at, recorded_at, external_ref, 'idem_copy', actor, reason, correlation_id,"
        " reverses_entry_id FROM ledger_entries WHERE entry_id = ?",
        (new_id, source[0]),
    )
    conn.commit()
    conn.close()
    rows.entries.append((new_id, *source[1:8], "idem_copy", *source[9:]))
    reconcile(services, url)
    grown = services.incidents.get(dup.id)
    assert grown.title == _title("duplicate_posting", rows)
    assert grown.title.startswith("duplicate_posting: 9 accounts, Δ ")
    assert [data["to"] for _, data in _retitles(services, dup.id)] == [
        after_fix.title,
        grown.title,
    ]
    assert "acc_12" in {services.alerts.get(f).labels.get("account_id") for f in grown.alerts}
    reconcile(services, url)
    assert len(_retitles(services, dup.id)) == 2
    assert services.incidents.get(manual.id).title == "Balances off tonight"
    _verify_ok(services)


def test_a_reused_group_incident_is_retitled_by_whoever_acknowledges(
    services: Services, ctx: Context, tmp_path: Path
) -> None:
    """Reconciler alerts that reach the group outside a reconcile run (ingested directly) show
    in the title when ``ack-group`` reuses the incident, attributed to its actor."""
    rows = impact_ledger()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows)
    reconcile(services, url)
    incident = services.alerts.acknowledge_group(ctx, "duplicate_posting").incident
    extra = NativeAlert.from_dict(
        {
            "source": "reconciler",
            "name": "duplicate_posting",
            "fingerprint": "duplicate_posting/acc_99/x",
            "status": "firing",
            "severity": "error",
            "labels": {"check": "duplicate_posting", "account_id": "acc_99", "currency": "EUR"},
            "annotations": {"delta_minor": "100"},
            "starts_at": "2026-10-17T03:00:00Z",
        }
    )
    services.alerts.ingest(ctx, [extra])
    assert services.incidents.get(incident.id).title == incident.title  # not per alert
    other = services.context("retry", actor="user:ana")
    outcome = services.alerts.acknowledge_group(other, "duplicate_posting")
    assert outcome.changed
    assert outcome.incident.title.startswith("duplicate_posting: 11 accounts, Δ ")
    assert _retitles(services, incident.id) == [
        ("user:ana", {"from": incident.title, "to": outcome.incident.title})
    ]
    assert not services.alerts.acknowledge_group(other, "duplicate_posting").changed
    _verify_ok(services)


def test_other_sources_groups_keep_the_firing_count_title(services: Services, ctx: Context) -> None:
    alerts = [
        NativeAlert.from_dict(
            {
                "source": "prometheus",
                "name": "disk_full",
                "fingerprint": f"d{i}",
                "status": "firing",
                "severity": "warning",
                "starts_at": "2026-10-17T01:00:00Z",
            }
        )
        for i in range(2)
    ]
    services.alerts.ingest(ctx, alerts)
    incident = services.alerts.acknowledge_group(ctx, "disk_full").incident
    assert incident.title == "disk_full: 2 alerts firing"
    assert services.alerts.retitle_group_incidents(ctx) == []
    assert _retitles(services, incident.id) == []


def test_the_title_words() -> None:
    impact = GroupImpact(
        accounts=1, delta_minor_by_currency={"JPY": 4_724_185, "EUR": -3_208_857, "KWD": 0},
        first_bad_at=None, last_bad_at=None,
    )  # fmt: skip
    assert group_incident_title("duplicate_posting", 3, "duplicate_posting", impact) == (
        "duplicate_posting: 1 account, Δ −32,088.57 EUR · 4,724,185 JPY"
    )
    quiet = GroupImpact(accounts=4812, delta_minor_by_currency={}, first_bad_at=None,
                        last_bad_at=None)  # fmt: skip
    quiet_title = group_incident_title("clock_skew", 5, "clock_skew", quiet)
    assert quiet_title == "clock_skew: 4,812 accounts"
    assert group_incident_title("disk_full", 1) == "disk_full: 1 alert firing"
