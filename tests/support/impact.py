"""A ledger for the group-impact tests (SQLite and PostgreSQL): repeated postings in EUR, JPY
and KWD, balances that took one copy or every copy, pure mismatches; and the impact expected
of it, computed in plain Python from the rows (the independent truth)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import EntryRow, LedgerRows

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
    """A full reconcile of the ledger at ``url``, in small batches."""
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode="full", batch=5))


def assert_impacts(groups: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    """``alerts groups --json``'s groups (by key) carry exactly the ``expected`` impact."""
    for key, want in expected.items():
        check_group(groups[key], want)


def duplicates_failing_balance(rows: LedgerRows) -> int:
    """Accounts with a repeated posting whose stored balance is not the sum of its entries."""
    derived: dict[str, int] = defaultdict(int)
    copies: dict[tuple[str, str | None, str, int], int] = defaultdict(int)
    for e in rows.entries:
        derived[e[1]] += e[2]
        copies[(e[1], e[7], e[4], e[2])] += 1
    dup = {key[0] for key, n in copies.items() if n >= 2}
    stored = {a[0]: a[2] for a in rows.accounts}
    return sum(1 for a in dup if stored[a] != derived[a])


def check_group(got: dict[str, Any], want: dict[str, Any]) -> None:
    """One group's impact (accounts, integer deltas per currency, bad-entry window) is ``want``."""
    assert got["accounts"] == want["accounts"]
    assert got["delta_minor_by_currency"] == want["delta_minor_by_currency"]
    assert all(type(v) is int for v in got["delta_minor_by_currency"].values())
    assert moment(got["first_bad_at"]) == want["first_bad_at"]
    assert moment(got["last_bad_at"]) == want["last_bad_at"]
