"""``incident evidence ID [--json]`` and ``alerts ack-group`` freezing it, through the real CLI
against a real SQLite ledger; every figure is computed from the rows written."""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import LedgerRows, write_ledger
from tests.support.accounts import accounts_ledger, findings_from_rows
from tests.support.cli import Cli
from tests.support.evidence import expected_set, expected_sha, stored_by_currency

DECIMALS = {"EUR": 2, "JPY": 0}  # ISO 4217, written out here on purpose


def money(amount: int, currency: str) -> str:
    places = DECIMALS[currency]
    whole, frac = divmod(abs(amount), 10**places)
    body = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    return f"{'−' if amount < 0 else ''}{body} {currency}"


@pytest.fixture
def ledger(services: Services, workspace: Path) -> LedgerRows:
    """The accounts ledger at the workspace's configured ledger path, reconciled."""
    rows = accounts_ledger()
    url = services.settings.ledger_url
    write_ledger(url, rows)
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(mode="full", batch=4))
    return rows


def test_ack_group_freezes_and_evidence_lists_it(cli: Cli, ledger: LedgerRows) -> None:
    rows = ledger
    acked = cli("alerts", "ack-group", "balance_mismatch")
    assert acked.exit_code == 0 and acked.stderr == ""
    inc = acked.stdout.split()[0]
    accounts = sorted(a for a, t in findings_from_rows(rows).items() if t["balance"])
    got = cli.json("incident", "evidence", inc)
    assert got["incident_id"] == inc and got["set_number"] == 1
    assert got["set_sha256"] == expected_set(rows, accounts)
    assert [a["account_id"] for a in got["accounts"]] == accounts
    by_id = {a[0]: a for a in rows.accounts}
    for a in got["accounts"]:
        assert a["sha256"] == expected_sha(rows, a["account_id"])
        assert a["balance_minor"] == by_id[a["account_id"]][2]
        assert a["currency"] == by_id[a["account_id"]][1]
        assert a["entries"] == sum(1 for e in rows.entries if e[1] == a["account_id"])
    totals = stored_by_currency(rows, accounts)
    assert got["balance_minor_by_currency"] == totals and got["orphans"] == 0
    human = cli("incident", "evidence", inc)
    assert human.exit_code == 0
    lines = human.stdout.splitlines()
    assert lines[0].startswith(f"{inc} evidence: {len(accounts)} accounts, frozen ")
    assert lines[1] == f"  set sha256 {expected_set(rows, accounts)}"
    for account in accounts:
        (line,) = [x for x in lines if x.startswith(account + " ")]
        cur, balance = by_id[account][1], by_id[account][2]
        entries = sum(1 for e in rows.entries if e[1] == account)
        assert line.split()[1] == cur and money(balance, cur) in line
        assert line.rstrip().endswith(f"{entries}  {expected_sha(rows, account)}")
    assert lines[-1] == "stored balances at detection: " + " · ".join(
        money(totals[c], c) for c in sorted(totals)
    )


def test_no_evidence_and_unknown_incident(cli: Cli) -> None:
    opened = cli("incident", "open", "--title", "by hand")
    inc = opened.stdout.split()[0]
    none = cli("incident", "evidence", inc)
    assert none.exit_code == 0 and none.stdout == f"{inc} has no frozen evidence\n"
    assert cli.json("incident", "evidence", inc) == {"incident_id": inc, "evidence": None}
    unknown = cli("incident", "evidence", "INC-0999")
    assert unknown.exit_code == 2
    assert len(unknown.stderr.strip().splitlines()) == 1 and unknown.stdout == ""


def test_ack_group_with_an_unreadable_ledger_warns_once(
    cli: Cli, ledger: LedgerRows, tmp_path: Path
) -> None:
    acked = cli("alerts", "ack-group", "duplicate_posting",
                "--ledger", f"sqlite:///{tmp_path / 'gone.sqlite'}")  # fmt: skip
    assert acked.exit_code == 0
    (warning,) = acked.stderr.splitlines()
    assert warning.startswith("incidentbook: warning: evidence not frozen (")
    inc = acked.stdout.split()[0]
    assert cli("incident", "evidence", inc).stdout == f"{inc} has no frozen evidence\n"
    # the next reconcile run heals it (exit 1: its findings still fire)
    assert cli("reconcile").exit_code == 1
    assert cli.json("incident", "evidence", inc)["accounts"]
