"""The accounts ledger for the ``incident accounts`` tests (SQLite and PostgreSQL): duplicates in
EUR and JPY (some stored balances took every copy, some one copy), pure balance mismatches,
clean accounts; the per-account truth computed in plain Python from the rows, and the check of
an ``incident accounts --json`` report against it."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from incidentbook.testing.synth import EntryRow, LedgerRows

T0 = datetime(2026, 10, 17, 2, 0, tzinfo=UTC)

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
