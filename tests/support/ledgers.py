"""A small hand-made ledger for the audit tests (and the Audit screen): ``rows()`` with two
accounts (acc_1 stored off by 5), a transfer, a late fee and an orphan entry; ``at`` and
``entry`` build its times and entry rows."""

from __future__ import annotations

from datetime import UTC, datetime

from incidentbook.testing.synth import LedgerRows


def at(h: int, m: int = 0, day: int = 17) -> datetime:
    return datetime(2026, 10, day, h, m, tzinfo=UTC)


def entry(i: int, account: str, amount: int, when: datetime, corr: str, kind: str = "payment",
          reverses: int | None = None) -> tuple:  # fmt: skip
    return (i, account, amount, "EUR", kind, when, when, f"evt-{i}", f"k-{i}", "system:api",
            f"{kind} {i}", corr, reverses)  # fmt: skip


def rows() -> LedgerRows:
    r = LedgerRows()
    r.accounts = [
        ("acc_1", "EUR", 1_000 + 250 - 40 + 5, at(23, 30), at(0, 0, day=1)),  # stored off by 5
        ("acc_2", "EUR", -250, at(12), at(0, 0, day=1)),
    ]
    r.entries = [
        entry(1, "acc_1", 1_000, at(9), "req-a"),
        entry(2, "acc_1", 250, at(12), "req-t"),
        entry(3, "acc_2", -250, at(12), "req-t", kind="transfer"),
        entry(4, "acc_1", -40, at(22, 30), "req-b", kind="fee"),  # 00:30 next day in Berlin
        entry(5, "ghost", 70, at(23), "req-c"),
    ]
    return r
