"""A group's impact (DESIGN §4) in ``alerts groups``: accounts, the deltas per currency and the
ledger-time window of the entries behind the findings, after a real reconcile of a real SQLite
ledger. The expected numbers are computed here from the rows written, in plain Python."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.core.ledger.reconcile.runs import findings
from incidentbook.services import Services
from incidentbook.testing.synth import (
    FAULT_KINDS,
    EntryRow,
    LedgerRows,
    faulted_ledger,
    write_ledger,
)
from tests.conftest import Cli

# 2026-10-17 00:30 in Berlin (CEST); the last entry is recorded the same local day
T0 = datetime(2026, 10, 16, 22, 30, tzinfo=UTC)
CURRENCIES = ("EUR", "JPY", "KWD")
DECIMALS = {"EUR": 2, "JPY": 0, "KWD": 3}  # ISO 4217, written out here on purpose
ZONE = "Europe/Berlin"


def impact_ledger(seed: int = 11) -> LedgerRows:
    """24 accounts in EUR, JPY and KWD. Accounts 0-9 hold a repeated posting (2 or 3 copies;
    account 0 two repeated refs): the even ones' stored balance took every copy, the odd ones'
    only one (so they fail balance_mismatch too). Accounts 14-18: pure balance mismatches.
    Account 23: no entries, yet a balance. Entries interleave across accounts; recorded_at
    grows with entry_id (no clock skew)."""
    rng = random.Random(seed)
    planned: list[tuple[str, int, str, str]] = []  # (account, amount, ref, kind)
    currency: dict[str, str] = {}
    took_one_copy: dict[str, int] = defaultdict(int)  # the copies the stored balance missed
    ref = 0
    for i in range(24):
        account = f"acc_{i:02d}"
        currency[account] = CURRENCIES[i % 3]
        if i == 23:
            continue
        for _ in range(rng.randint(3, 5)):
            ref += 1
            kind = rng.choice(("payment", "refund", "fee"))
            amount = rng.randint(100, 5_000_000) * (-1 if kind != "payment" else 1)
            planned.append((account, amount, f"evt_{ref}", kind))
        if i < 10:
            for _ in range(2 if i == 0 else 1):
                ref += 1
                copies = 3 if i % 4 == 1 else 2
                amount = rng.randint(1_000, 9_999_999)
                planned.extend([(account, amount, f"evt_{ref}", "payment")] * copies)
                if i % 2:
                    took_one_copy[account] += (copies - 1) * amount
    rng.shuffle(planned)
    entries: list[EntryRow] = []
    at = T0
    for entry_id, (account, amount, ext, kind) in enumerate(planned, start=1):
        at += timedelta(minutes=rng.randint(1, 8), seconds=rng.randint(0, 59))
        entries.append(
            (entry_id, account, amount, currency[account], kind, at, at, ext,
             f"idem_{entry_id}", "system:api", None, f"corr_{entry_id}", None)
        )  # fmt: skip
    sums: dict[str, int] = defaultdict(int)
    for e in entries:
        sums[e[1]] += e[2]
    offsets = {"acc_14": 1, "acc_15": -250_000, "acc_16": 77_777, "acc_17": -3, "acc_18": 12_345}
    accounts = []
    for account, cur in currency.items():
        balance = sums[account] - took_one_copy[account] + offsets.get(account, 0)
        if account == "acc_23":
            balance = 500
        accounts.append((account, cur, balance, at, T0 - timedelta(days=30)))
    return LedgerRows(accounts=accounts, entries=entries)


def expected_impact(rows: LedgerRows) -> dict[str, dict[str, Any]]:
    """The groups' impact straight from the rows (DESIGN §4's definitions)."""
    stored = {a[0]: (a[1], a[2]) for a in rows.accounts}
    derived: dict[str, int] = defaultdict(int)
    latest: dict[str, EntryRow] = {}
    copies: dict[tuple[str, str | None, str, int], list[EntryRow]] = defaultdict(list)
    for e in rows.entries:
        derived[e[1]] += e[2]
        if e[1] not in latest or e[0] > latest[e[1]][0]:
            latest[e[1]] = e
        copies[(e[1], e[7], e[4], e[2])].append(e)
    out: dict[str, dict[str, Any]] = {}

    def add(check: str, account: str, cur: str, delta: int, times: list[datetime]) -> None:
        g = out.setdefault(check, {"accounts": set(), "delta": defaultdict(int), "times": []})
        g["accounts"].add(account)
        g["delta"][cur] += delta
        g["times"].extend(times)

    for account, (cur, balance) in stored.items():
        if balance != derived[account]:
            times = [latest[account][6]] if account in latest else []
            add("balance_mismatch", account, cur, balance - derived[account], times)
    for (account, _ref, _kind, amount), group in copies.items():
        if len(group) >= 2:
            add("duplicate_posting", account, stored[account][0], (len(group) - 1) * amount,
                [e[6] for e in group])  # fmt: skip
    return {
        check: {
            "accounts": len(g["accounts"]),
            "delta_minor_by_currency": dict(g["delta"]),
            "first_bad_at": min(g["times"]),
            "last_bad_at": max(g["times"]),
        }
        for check, g in out.items()
    }


def money(amount: int, currency: str) -> str:
    places = DECIMALS[currency]
    whole, frac = divmod(abs(amount), 10**places)
    text = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    return ("−" if amount < 0 else "") + f"{text} {currency}"


def moment(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00")


def reconcile(services: Services, url: str) -> None:
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", batch=5))


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
    for key, want in expected.items():
        got = groups[key]
        assert got["accounts"] == want["accounts"], key
        assert got["delta_minor_by_currency"] == want["delta_minor_by_currency"], key
        assert all(type(v) is int for v in got["delta_minor_by_currency"].values())
        assert moment(got["first_bad_at"]) == want["first_bad_at"], key
        assert moment(got["last_bad_at"]) == want["last_bad_at"], key
        assert {"firing", "since", "last_seen", "incident_id"} <= set(got)
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
