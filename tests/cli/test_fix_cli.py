"""``incidentbook fix …`` and the gated ``incident resolve`` through the real CLI, on a real
SQLite ledger whose correct end state is written down by hand (``tests/support/fixes``)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from incidentbook.money import format_minor
from tests.support.cli import Cli
from tests.support.fixes import TRUTH, ledger_rows, write_fix_ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    write_fix_ledger(path)
    return path


@pytest.fixture
def incident(cli: Cli, ledger: Path) -> str:
    url = f"sqlite:///{ledger}"
    assert cli("reconcile", "--ledger", url).exit_code == 1  # findings
    opened = cli.json("alerts", "ack-group", "duplicate_posting")
    incident_id = str(opened["incident"]["id"])
    for key in ("balance_mismatch", "currency_mismatch"):
        assert cli("alerts", "ack-group", key, "--incident", incident_id).exit_code == 0
    return incident_id


def test_the_whole_fix_by_commands(cli: Cli, ledger: Path, incident: str) -> None:
    url = f"sqlite:///{ledger}"
    plan = cli.json("fix", "plan", incident, "--ledger", url)
    assert plan["plan_id"] == "FIX-0001" and plan["created"] is True
    assert len(plan["accounts"]) == len(TRUTH)
    text = cli("fix", "show", "FIX-0001").output
    assert "reverse entry 2" in text and "incidentbook-fix:reverse:2" in text
    assert "needs a human: currency_mismatch/mixed/12" in text
    listed = cli.json("fix", "list")
    assert [(p["plan_id"], p["apply"]) for p in listed] == [("FIX-0001", "planned")]

    before = ledger.read_bytes()
    # no TTY and no --yes: refused, nothing written
    refused = cli("fix", "apply", "FIX-0001", "--ledger", url)
    assert refused.exit_code == 2
    assert "pass --yes" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    dry = cli.json("fix", "apply", "FIX-0001", "--ledger", url, "--dry-run")
    assert dry["dry_run"] is True and dry["totals"]["corrected"] == len(TRUTH)
    assert ledger.read_bytes() == before

    applied = cli("fix", "apply", "FIX-0001", "--ledger", url, "--yes", "--batch", "2")
    assert applied.exit_code == 0, applied.output
    eur = format_minor(-2_000, "EUR")  # −1000 −500 −500, by hand
    assert f"reversals Δ {eur}" in applied.output or eur in applied.output
    assert "4 of 4 accounts corrected" in applied.output
    conn = sqlite3.connect(ledger)
    stored = dict(conn.execute("SELECT account_id, balance_minor FROM ledger_accounts"))
    conn.close()
    assert {a: stored[a] for a in TRUTH} == {a: t[1] for a, t in TRUTH.items()}

    # the gate: the fix is not proven until a reconcile runs after it
    gated = cli("incident", "resolve", incident)
    assert gated.exit_code == 1
    assert "still firing: run reconcile after the fix, or --force with a reason" in gated.stderr
    assert cli("fix", "verify", "FIX-0001", "--ledger", url).exit_code == 0
    cli("reconcile", "--ledger", url)
    gated = cli("incident", "resolve", incident)  # the currency mismatch still fires
    assert gated.exit_code == 1 and "1 finding still firing" in gated.stderr
    forced = cli("incident", "resolve", incident, "--force")
    assert forced.exit_code == 2 and "--force needs --reason" in forced.stderr
    done = cli("incident", "resolve", incident, "--force", "--reason", "currency: FIN-12")
    assert done.exit_code == 0 and "[resolved" in done.output

    timeline = cli("incident", "show", incident).output
    assert "fix planned: FIX-0001" in timeline
    assert "correction applied (batch 1)" in timeline and "correction applied (batch 2)" in timeline
    assert "resolved, gate overridden (1 finding still firing" in timeline


def test_apply_again_is_a_no_op(cli: Cli, ledger: Path, incident: str) -> None:
    url = f"sqlite:///{ledger}"
    cli.json("fix", "plan", incident, "--ledger", url)
    assert cli("fix", "apply", "FIX-0001", "--ledger", url, "--yes").exit_code == 0
    once = ledger_rows(ledger)
    again = cli("fix", "apply", "FIX-0001", "--ledger", url, "--yes", "--resume")
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert ledger_rows(ledger) == once


def test_export_sql_replays_to_the_same_balances_and_twice_to_nothing_new(
    cli: Cli, ledger: Path, incident: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{ledger}"
    cli.json("fix", "plan", incident, "--ledger", url)
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(ledger.read_bytes())
    out = tmp_path / "fix.sql"
    assert cli("fix", "export", "FIX-0001", "--sql", str(out), "--batch", "2").exit_code == 0
    sql = out.read_text()
    assert sql.count("BEGIN IMMEDIATE;") == 2
    conn = sqlite3.connect(copy)
    conn.executescript(sql)
    once = conn.execute("SELECT * FROM ledger_entries ORDER BY entry_id").fetchall()
    conn.executescript(sql)  # a replay
    assert conn.execute("SELECT * FROM ledger_entries ORDER BY entry_id").fetchall() == once
    stored = dict(conn.execute("SELECT account_id, balance_minor FROM ledger_accounts"))
    derived = dict(
        conn.execute("SELECT account_id, SUM(amount_minor) FROM ledger_entries GROUP BY 1")
    )
    conn.close()
    for account, (_, final, _) in TRUTH.items():
        assert stored[account] == derived[account] == final
    assert sorted(r[12] for r in once if r[12] is not None) == sorted(
        i for _, _, ids in TRUTH.values() for i in ids
    )
    # the same SQL on the ledger that `fix apply` already corrected writes nothing
    assert cli("fix", "apply", "FIX-0001", "--ledger", url, "--yes").exit_code == 0
    applied = ledger_rows(ledger)
    conn = sqlite3.connect(ledger)
    conn.executescript(sql)
    conn.close()
    assert ledger_rows(ledger) == applied

    rows = list(csv.DictReader(io.StringIO(_csv(cli, tmp_path))))
    reversals = [r for r in rows if r["action"] == "reverse"]
    assert sorted(int(r["reverses_entry_id"]) for r in reversals) == [2, 4, 5, 8]
    assert {r["account_id"] for r in rows if r["action"] == "set_balance"} == {
        "dup_all", "bal_jpy", "dup_kwd"
    }  # fmt: skip


def _csv(cli: Cli, tmp_path: Path) -> str:
    out = tmp_path / "fix.csv"
    assert cli("fix", "export", "FIX-0001", "--csv", str(out)).exit_code == 0
    return out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fix", "show", "FIX-0042"), "no plan FIX-0042"),
        (("fix", "show", "nonsense"), "not a plan id"),
        (("fix", "plan", "INC-0999"), "INC-0999"),
        (("fix", "export", "FIX-0001"), "exactly one of --sql OUT or --csv OUT"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, ledger: Path, incident: str, args: tuple[str, ...], message: str
) -> None:
    cli.json("fix", "plan", incident, "--ledger", f"sqlite:///{ledger}")
    result = cli(*args, "--ledger", f"sqlite:///{ledger}") if args[1] == "plan" else cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_ledger_without_the_contract_or_read_only_is_refused_before_writing(
    cli: Cli, ledger: Path, incident: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{ledger}"
    cli.json("fix", "plan", incident, "--ledger", url)
    before = ledger.read_bytes()
    ledger.chmod(0o444)
    try:
        result = cli("fix", "apply", "FIX-0001", "--ledger", url, "--yes")
    finally:
        ledger.chmod(0o644)
    assert result.exit_code == 2 and "read-only" in result.stderr
    assert ledger.read_bytes() == before
    bare = tmp_path / "bare.sqlite"
    conn = sqlite3.connect(bare)
    conn.execute("CREATE TABLE ledger_accounts (account_id TEXT)")
    conn.close()
    result = cli("fix", "apply", "FIX-0001", "--ledger", f"sqlite:///{bare}", "--yes")
    assert result.exit_code == 2 and "no column currency" in result.stderr
    result = cli("fix", "apply", "FIX-0001", "--ledger", f"sqlite:///{bare}", "--json", "--yes")
    assert json.loads(result.stderr.strip().splitlines()[-1])["exit_code"] == 2


def test_export_json_names_what_it_wrote(
    cli: Cli, ledger: Path, incident: str, tmp_path: Path
) -> None:
    plan = cli.json("fix", "plan", incident, "--ledger", f"sqlite:///{ledger}")
    out = tmp_path / "fix.csv"
    written = cli.json("fix", "export", "FIX-0001", "--csv", str(out))
    assert written == {"plan_id": "FIX-0001", "sha256": plan["sha256"], "format": "csv",
                       "path": str(out), "accounts": len(TRUTH)}  # fmt: skip
    assert out.read_text().splitlines()[0].startswith("plan_id,account_id")
    missing = cli("fix", "export", "FIX-0001", "--json")
    assert missing.exit_code == 2
    assert json.loads(missing.stderr.strip().splitlines()[-1])["exit_code"] == 2
