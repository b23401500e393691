"""``incident accounts ID [--json|--csv OUT]`` after a real reconcile of a real SQLite ledger:
duplicates in EUR and JPY (some stored balances took every copy, some one copy), pure balance
mismatches, clean accounts. Every expected number is computed here from the rows written."""

from __future__ import annotations

import csv
import io
import json
import os
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import EntryRow, LedgerRows, write_ledger
from tests.support.cli import Cli

T0 = datetime(2026, 10, 17, 2, 0, tzinfo=UTC)
DECIMALS = {"EUR": 2, "JPY": 0}  # ISO 4217, written out here on purpose

# account -> (currency, repeated postings as (copies, how many copies the stored balance took),
#             an offset of the stored balance beyond that)
PLAN: dict[str, tuple[str, list[tuple[int, int]], int]] = {
    "eur_all_a": ("EUR", [(2, 2)], 0),  # stored took every copy: no balance alert
    "eur_all_b": ("EUR", [(3, 3)], 0),
    "eur_one_a": ("EUR", [(2, 1)], 0),  # stored took one copy: fails balance_mismatch too
    "eur_one_b": ("EUR", [(3, 1), (2, 2)], 0),  # two repeated refs, one taken fully
    "jpy_all_a": ("JPY", [(2, 2)], 0),
    "jpy_one_a": ("JPY", [(2, 1)], 0),
    "jpy_one_b": ("JPY", [(4, 1)], 0),
    "eur_pure": ("EUR", [], 77_777),  # pure balance mismatches
    "jpy_pure": ("JPY", [], -5),
    "eur_clean": ("EUR", [], 0),
    "jpy_clean": ("JPY", [], 0),
}


def accounts_ledger(seed: int = 3) -> LedgerRows:
    rng = random.Random(seed)
    planned: list[tuple[str, int, str, str]] = []
    missed: dict[str, int] = defaultdict(int)
    ref = 0
    for account, (_cur, repeats, _offset) in PLAN.items():
        for _ in range(rng.randint(2, 4)):
            ref += 1
            kind = rng.choice(("payment", "refund", "fee"))
            amount = rng.randint(100, 900_000) * (1 if kind == "payment" else -1)
            planned.append((account, amount, f"evt_{ref}", kind))
        for copies, taken in repeats:
            ref += 1
            amount = rng.randint(1_000, 5_000_000)
            planned.extend([(account, amount, f"evt_{ref}", "payment")] * copies)
            missed[account] += (copies - taken) * amount
    rng.shuffle(planned)
    entries: list[EntryRow] = []
    at = T0
    for entry_id, (account, amount, ext, kind) in enumerate(planned, start=1):
        at += timedelta(minutes=rng.randint(1, 9))
        entries.append(
            (entry_id, account, amount, PLAN[account][0], kind, at, at, ext,
             f"idem_{entry_id}", "webhook:processor", None, f"corr_{entry_id}", None)
        )  # fmt: skip
    sums: dict[str, int] = defaultdict(int)
    for e in entries:
        sums[e[1]] += e[2]
    accounts = [
        (account, cur, sums[account] - missed[account] + offset, at, T0 - timedelta(days=9))
        for account, (cur, _repeats, offset) in PLAN.items()
    ]
    return LedgerRows(accounts=accounts, entries=entries)


def findings_from_rows(rows: LedgerRows) -> dict[str, dict[str, Any]]:
    """Per account, straight from the rows: stored, derived, its duplicate findings and its
    balance finding (DESIGN §4's definitions)."""
    out: dict[str, dict[str, Any]] = {}
    for account, cur, balance, _u, _o in rows.accounts:
        derived = sum(e[2] for e in rows.entries if e[1] == account)
        out[account] = {"currency": cur, "stored": balance, "derived": derived, "dups": [],
                        "balance": None}  # fmt: skip
        if balance != derived:
            out[account]["balance"] = {
                "fingerprint": f"balance_mismatch/{account}", "delta": balance - derived
            }  # fmt: skip
    copies: dict[tuple[str, str | None, str, int], list[int]] = defaultdict(list)
    for e in rows.entries:
        copies[(e[1], e[7], e[4], e[2])].append(e[0])
    for (account, ref, _kind, amount), ids in copies.items():
        if len(ids) >= 2:
            out[account]["dups"].append(
                {"fingerprint": f"duplicate_posting/{account}/{ref}", "entry_ids": sorted(ids),
                 "copies": len(ids), "delta": (len(ids) - 1) * amount}
            )  # fmt: skip
    return out


def expected_rows(truth: dict[str, dict[str, Any]], checks: set[str]) -> list[dict[str, Any]]:
    """The rows of an incident holding the given checks' alerts, sorted like the command."""
    rows = []
    for account, t in truth.items():
        has_dup = "duplicate_posting" in checks and bool(t["dups"])
        has_bal = "balance_mismatch" in checks and t["balance"] is not None
        if not (has_dup or has_bal):
            continue
        delta = (sum(d["delta"] for d in t["dups"]) if has_dup else 0) + (
            t["balance"]["delta"] if has_bal else 0
        )
        rows.append(
            {
                "account_id": account,
                "currency": t["currency"],
                "delta_minor": delta,
                "stored_minor": t["stored"],
                "derived_minor": t["derived"],
                "duplicate": has_dup,
                "fails_balance": t["stored"] != t["derived"],
                "stored_took_copies": (t["stored"] == t["derived"]) if has_dup else None,
            }
        )
    return sorted(rows, key=lambda r: (-abs(r["delta_minor"]), r["account_id"]))


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


def check_report(got: dict[str, Any], truth: dict[str, dict[str, Any]], checks: set[str],
                 incident: str) -> None:  # fmt: skip
    want = expected_rows(truth, checks)
    assert got["incident_id"] == incident
    rows = got["accounts"]
    assert [r["account_id"] for r in rows] == [w["account_id"] for w in want]
    for row, w in zip(rows, want, strict=True):
        assert {k: row[k] for k in w} == w, row["account_id"]
        assert type(row["delta_minor"]) is int
        t = truth[row["account_id"]]
        # the duplicate findings and the balance finding of the account, together
        dups = [f for f in row["findings"] if f["check"] == "duplicate_posting"]
        bals = [f for f in row["findings"] if f["check"] == "balance_mismatch"]
        if w["duplicate"]:
            assert sorted(
                (f["fingerprint"], f["entry_ids"], f["copies"], f["delta_minor"]) for f in dups
            ) == sorted((d["fingerprint"], d["entry_ids"], d["copies"], d["delta"])
                        for d in t["dups"])  # fmt: skip
            assert all(f["linked"] and f["status"] == "firing" for f in dups)
        else:
            assert dups == []
        if t["balance"] is not None:
            (b,) = bals
            assert b["fingerprint"] == t["balance"]["fingerprint"]
            assert b["delta_minor"] == t["balance"]["delta"]
            assert b["linked"] is ("balance_mismatch" in checks)
            assert b["copies"] is None
        else:
            assert bals == []
    summary = got["summary"]
    dup_rows = [w for w in want if w["duplicate"]]
    totals: dict[str, int] = defaultdict(int)
    for w in want:
        totals[w["currency"]] += w["delta_minor"]
    assert summary == {
        "accounts": len(want),
        "delta_minor_by_currency": dict(sorted(totals.items())),
        "duplicate_accounts": len(dup_rows),
        "duplicate_accounts_failing_balance": sum(
            truth[w["account_id"]]["stored"] != truth[w["account_id"]]["derived"] for w in dup_rows
        ),
        "duplicate_accounts_stored_took_copies": sum(
            truth[w["account_id"]]["stored"] == truth[w["account_id"]]["derived"] for w in dup_rows
        ),
        "balance_mismatch_accounts": sum(w["fails_balance"] for w in want),
    }


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
