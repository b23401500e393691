"""``incident accounts ID [--json|--csv OUT]`` after a real reconcile of a real SQLite ledger:
duplicates in EUR and JPY (some stored balances took every copy, some one copy), pure balance
mismatches, clean accounts. Every expected number is computed from the rows written
(tests/support/accounts.py)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import LedgerRows, write_ledger
from tests.support.accounts import accounts_ledger, check_report, findings_from_rows
from tests.support.cli import Cli

DECIMALS = {"EUR": 2, "JPY": 0}  # ISO 4217, written out here on purpose


def money(amount: int, currency: str, signed: bool = False) -> str:
    places = DECIMALS[currency]
    whole, frac = divmod(abs(amount), 10**places)
    body = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    sign = "−" if amount < 0 else ("+" if signed and amount > 0 else "")
    return f"{sign}{body} {currency}"


@pytest.fixture
def ledger(services: Services, tmp_path: Path) -> tuple[LedgerRows, str]:
    rows = accounts_ledger()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows)
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", batch=4))
    return rows, url


def test_the_ledger_has_what_the_test_needs(ledger: tuple[LedgerRows, str]) -> None:
    truth = findings_from_rows(ledger[0])
    dup = {a for a, t in truth.items() if t["dups"]}
    bal = {a for a, t in truth.items() if t["balance"]}
    assert {truth[a]["currency"] for a in dup} == {"EUR", "JPY"}
    assert dup - bal == {"eur_all_a", "eur_all_b", "jpy_all_a"}  # stored took every copy
    assert dup & bal == {"eur_one_a", "eur_one_b", "jpy_one_a", "jpy_one_b"}
    assert bal - dup == {"eur_pure", "jpy_pure"}
    assert len(truth["eur_one_b"]["dups"]) == 2


def test_accounts_of_each_group_and_of_both_in_one_incident(
    cli: Cli, ledger: tuple[LedgerRows, str], tmp_path: Path
) -> None:
    rows, url = ledger
    truth = findings_from_rows(rows)
    dup_inc = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    bal_inc = cli.json("alerts", "ack-group", "balance_mismatch")["incident"]["id"]
    assert dup_inc != bal_inc

    dup = cli.json("incident", "accounts", dup_inc, "--ledger", url)
    check_report(dup, truth, {"duplicate_posting"}, dup_inc)
    assert dup["summary"]["duplicate_accounts"] == 7
    assert dup["summary"]["duplicate_accounts_failing_balance"] == 4
    assert dup["summary"]["duplicate_accounts_stored_took_copies"] == 3
    check_report(
        cli.json("incident", "accounts", bal_inc, "--ledger", url),
        truth, {"balance_mismatch"}, bal_inc,
    )  # fmt: skip

    # both groups of one night in one incident: the balance alerts join the duplicate's
    # (with ack-group --incident where it exists, else alert by alert)
    for fingerprint in sorted(f"balance_mismatch/{a}" for a, t in truth.items() if t["balance"]):
        result = cli("incident", "link-alert", dup_inc, fingerprint)
        assert result.exit_code == 0, result.output
    both = cli.json("incident", "accounts", dup_inc, "--ledger", url)
    check_report(both, truth, {"duplicate_posting", "balance_mismatch"}, dup_inc)
    # an account whose stored balance took one copy: its two findings cancel out in its delta
    one = next(r for r in both["accounts"] if r["account_id"] == "jpy_one_a")
    assert one["delta_minor"] == 0 and one["stored_took_copies"] is False
    assert set(one["delta_minor_by_check"]) == {"duplicate_posting", "balance_mismatch"}

    # the ledger URL from settings, as `audit` reads it
    config = cli.workspace / "incidentbook.toml"
    default = 'url = "sqlite:///.incidentbook/ledger.sqlite"'
    assert default in config.read_text()
    config.write_text(config.read_text().replace(default, f'url = "{url}"'))
    assert cli.json("incident", "accounts", dup_inc) == both

    # the text table: money in each currency's minor unit, largest delta first
    result = cli("incident", "accounts", dup_inc)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    s = both["summary"]
    assert lines[0] == (
        f"{dup_inc}: {s['accounts']} accounts  Δ "
        + " · ".join(money(v, c, True) for c, v in s["delta_minor_by_currency"].items())
    )
    assert lines[1] == (
        f"  {s['duplicate_accounts']} duplicate accounts: "
        f"{s['duplicate_accounts_failing_balance']} also fail balance_mismatch, "
        f"{s['duplicate_accounts_stored_took_copies']} stored balances took every copy"
    )
    account_lines = [x for x in lines[3:] if not x.startswith("    ")]
    assert [x.split()[0] for x in account_lines] == [r["account_id"] for r in both["accounts"]]
    for line, row in zip(account_lines, both["accounts"], strict=True):
        cur = row["currency"]
        assert money(row["delta_minor"], cur, True) in line
        assert money(row["stored_minor"], cur) in line and money(row["derived_minor"], cur) in line
    jpy_all = next(x for x in account_lines if x.startswith("jpy_all_a"))
    assert "stored took every copy" in jpy_all
    assert "balance_mismatch" in next(x for x in account_lines if x.startswith("eur_one_a"))
    assert any(x.startswith("    duplicate_posting/eur_one_b/") for x in lines)
    assert "    balance_mismatch/eur_one_b  entries" in result.stdout

    # the balance incident now holds no alert: a clear message, exit 0, no accounts
    result = cli("incident", "accounts", bal_inc, "--ledger", url)
    assert result.exit_code == 0 and "no reconciler alerts" in result.stdout

    # --csv: the same rows, written whole
    out = tmp_path / "accounts.csv"
    result = cli("incident", "accounts", dup_inc, "--csv", str(out))
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["account_id"] for r in table] == [r["account_id"] for r in both["accounts"]]
    for line, row in zip(table, both["accounts"], strict=True):
        assert int(line["delta_minor"]) == row["delta_minor"]
        assert int(line["stored_minor"]) == row["stored_minor"]
        assert int(line["derived_minor"]) == row["derived_minor"]
        assert line["fails_balance"] == str(row["fails_balance"]).lower()
        assert line["fingerprints"].split(";") == [f["fingerprint"] for f in row["findings"]]


def test_an_incident_without_reconciler_alerts_has_no_accounts(cli: Cli, tmp_path: Path) -> None:
    incident = cli.json("incident", "open", "--title", "disk full")["incident"]["id"]
    missing = f"sqlite:///{tmp_path / 'no-such-ledger.sqlite'}"  # never opened
    result = cli("incident", "accounts", incident, "--ledger", missing)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{incident} has no reconciler alerts: no affected accounts"
    got = cli.json("incident", "accounts", incident, "--ledger", missing)
    assert got["accounts"] == [] and got["summary"]["accounts"] == 0


def test_an_unknown_incident_is_one_line_exit_2(cli: Cli) -> None:
    result = cli("incident", "accounts", "INC-0999")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "INC-0999" in result.stderr


def test_csv_to_an_unwritable_path_is_one_line_and_writes_nothing(
    cli: Cli, ledger: tuple[LedgerRows, str], tmp_path: Path
) -> None:
    _rows, url = ledger
    incident = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    targets = [tmp_path / "missing" / "out.csv", a_file / "out.csv"]
    # a folder without write permission (root writes anyway, so /sys stands in for it there)
    targets.append(locked / "out.csv" if os.geteuid() != 0 else Path("/sys/out.csv"))
    try:
        for target in targets:
            result = cli("incident", "accounts", incident, "--ledger", url, "--csv", str(target))
            assert result.exit_code == 2, result.output
            assert result.stdout == ""
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert str(target) in result.stderr
            assert not target.exists()
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
    both = cli("incident", "accounts", incident, "--json", "--csv", str(tmp_path / "x.csv"))
    assert both.exit_code == 2 and not (tmp_path / "x.csv").exists()
    assert json.loads(cli("incident", "accounts", incident, "--ledger", url, "--json").stdout)
