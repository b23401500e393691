"""Account audit lookups: running balance, stored vs derived, balance at, a local day,
correlation trace, stable refs; bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incidentbook.core.ledger.audit import Auditor, day_bounds, parse_ref
from incidentbook.errors import NotFoundError
from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli
from tests.support.ledgers import at, rows


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    write_ledger(url, rows())
    return url


def test_history_running_balance_and_difference(ledger_url: str) -> None:
    auditor = Auditor.open(ledger_url)
    audit = auditor.account("acc_1")
    assert [e.entry_id for e in audit.entries] == [4, 2, 1]
    assert [e.running_balance_minor for e in audit.entries] == [1_210, 1_250, 1_000]
    assert (audit.stored_minor, audit.derived_minor, audit.difference_minor) == (1_215, 1_210, 5)
    assert audit.entries[0].ref == "acc_1@4" and audit.entries[0].correlation_id == "req-b"
    assert audit.entries[0].recorded_at == "2026-10-17T22:30:00.000000Z"
    limited = auditor.account("acc_1", limit=1)
    assert [e.running_balance_minor for e in limited.entries] == [1_210]


def test_balance_at_a_moment_and_ref(ledger_url: str) -> None:
    auditor = Auditor.open(ledger_url)
    audit = auditor.account("acc_1", at=at(12, 0))
    assert audit.balance_at_minor == 1_250
    assert [e.entry_id for e in audit.entries] == [2, 1]
    assert auditor.account("acc_1", at=at(8)).balance_at_minor == 0
    opened = auditor.account("acc_1@2")
    assert opened.ref == "acc_1@2" and opened.entries[0].entry_id == 2
    assert opened.entries[0].running_balance_minor == 1_250
    assert parse_ref("acc@x@12") == ("acc@x", 12) and parse_ref("acc@x") == ("acc@x", None)
    with pytest.raises(NotFoundError, match="no entry 3 on account acc_1"):
        auditor.account("acc_1@3")  # entry 3 belongs to acc_2


def test_a_day_in_the_workspace_time_zone(ledger_url: str) -> None:
    utc_day = Auditor.open(ledger_url, "UTC").account("acc_1", on=at(0).date())
    assert [e.entry_id for e in utc_day.entries] == [4, 2, 1]
    berlin = Auditor.open(ledger_url, "Europe/Berlin")
    day = berlin.account("acc_1", on=at(0).date())
    assert [e.entry_id for e in day.entries] == [2, 1]  # entry 4 is 00:30 on the 18th there
    assert [e.running_balance_minor for e in day.entries] == [1_250, 1_000]
    assert [e.entry_id for e in berlin.account("acc_1", on=at(0, day=18).date()).entries] == [4]
    start, end = day_bounds(at(0).date(), "Europe/Berlin")
    assert (start.hour, end.hour) == (22, 22)  # CEST, UTC+2


def test_correlation_trace_and_orphans(ledger_url: str) -> None:
    auditor = Auditor.open(ledger_url)
    trace = auditor.correlation("req-t")
    assert [(e.account_id, e.amount_minor) for e in trace] == [("acc_1", 250), ("acc_2", -250)]
    ghost = auditor.account("ghost")
    assert not ghost.exists and ghost.derived_minor == 70 and ghost.stored_minor is None
    with pytest.raises(NotFoundError):
        auditor.correlation("nope")
    with pytest.raises(NotFoundError, match="no account 'nobody'"):
        auditor.account("nobody")


def test_audit_cli(cli: Cli, ledger_url: str, tmp_path: Path) -> None:
    data = cli.json("audit", "acc_1", "--ledger", ledger_url)
    assert data["difference_minor"] == 5 and data["entries"][0]["ref"] == "acc_1@4"
    again = cli.json("audit", data["entries"][1]["ref"], "--ledger", ledger_url)
    assert again["entries"][0]["entry_id"] == 2
    text_out = cli("audit", "acc_1", "--ledger", ledger_url, "--at", "2026-10-17T12:00:00Z")
    assert (
        text_out.exit_code == 0
        and "balance at" in text_out.stdout
        and "12.50 EUR" in text_out.stdout
    )
    trace = cli.json("audit", "--correlation", "req-t", "--ledger", ledger_url)
    assert len(trace["entries"]) == 2
    for args, message in [
        (["nobody"], "no account 'nobody'"),
        (["acc_1", "--on", "17/10/2026"], "--on: not a date"),
        (["acc_1", "--at", "yesterday"], "--at: not an ISO-8601"),
        ([], "give an ACCOUNT"),
    ]:
        result = cli("audit", *args, "--ledger", ledger_url)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and result.stderr.count("\n") == 1
    # non-integer amount: one line naming the entry
    import sqlite3

    path = ledger_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE ledger_entries SET amount_minor = '12.5x' WHERE entry_id = 2")
    conn.commit()
    conn.close()
    bad = cli("audit", "acc_1", "--ledger", ledger_url)
    assert bad.exit_code == 2 and "amount_minor is not an integer in entry 2" in bad.stderr


def test_workspace_timezone_is_used_and_stated(cli: Cli, ledger_url: str) -> None:
    config = cli.workspace / "incidentbook.toml"
    config.write_text(config.read_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"'))
    data = cli.json("audit", "acc_1", "--ledger", ledger_url, "--on", "2026-10-18")
    assert data["timezone"] == "Europe/Berlin" and [e["entry_id"] for e in data["entries"]] == [4]
    assert "Europe/Berlin" in cli("audit", "acc_1", "--ledger", ledger_url).stdout
    assert json.dumps(data)  # serialisable as is
