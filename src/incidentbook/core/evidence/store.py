"""SQL on ``evidence_accounts`` and ``evidence_sets`` (append-only by trigger, migration 0007),
and the read of which reconciler accounts of which incidents are not frozen yet."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, text

from incidentbook.core.evidence.model import EvidenceAccount, FrozenAccount
from incidentbook.core.ledger.reconcile.model import SOURCE

READ_PAGE = 1000


def frozen_accounts(conn: Connection, incident_id: str) -> dict[str, str]:
    """account_id → sha256 of every account frozen for the incident."""
    rows = conn.execute(
        text("SELECT account_id, sha256 FROM evidence_accounts WHERE incident_id = :i"),
        {"i": incident_id},
    ).all()
    return {str(r[0]): str(r[1]) for r in rows}


def insert_accounts(
    conn: Connection, incident_id: str, ledger: str, frozen_at: str, rows: Sequence[FrozenAccount]
) -> None:
    conn.execute(
        text(
            "INSERT INTO evidence_accounts (incident_id, account_id, frozen_at, ledger, currency,"
            " balance_minor, entries, sha256, body) VALUES (:i, :a, :t, :l, :c, :b, :n, :h, :body)"
        ),
        [_params(incident_id, ledger, frozen_at, r) for r in rows],
    )


def _params(incident_id: str, ledger: str, frozen_at: str, r: FrozenAccount) -> dict[str, Any]:
    return {"i": incident_id, "a": r.account_id, "t": frozen_at, "l": ledger, "c": r.currency,
            "b": r.balance_minor, "n": r.entries, "h": r.sha256, "body": r.body}  # fmt: skip


def next_set_number(conn: Connection, incident_id: str) -> int:
    row = conn.execute(
        text("SELECT COALESCE(MAX(number), 0) FROM evidence_sets WHERE incident_id = :i"),
        {"i": incident_id},
    ).one()
    return int(row[0]) + 1


def insert_set(
    conn: Connection, incident_id: str, number: int, frozen_at: str, accounts: int, sha256: str
) -> None:
    conn.execute(
        text(
            "INSERT INTO evidence_sets (incident_id, number, frozen_at, accounts, sha256)"
            " VALUES (:i, :n, :t, :a, :h)"
        ),
        {"i": incident_id, "n": number, "t": frozen_at, "a": accounts, "h": sha256},
    )


def latest_set(conn: Connection, incident_id: str) -> tuple[int, str, int, str] | None:
    """(number, frozen_at, accounts, sha256) of the incident's newest set."""
    row = conn.execute(
        text(
            "SELECT number, frozen_at, accounts, sha256 FROM evidence_sets WHERE incident_id = :i"
            " ORDER BY number DESC LIMIT 1"
        ),
        {"i": incident_id},
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), int(row[2]), str(row[3]))


def evidence_accounts(conn: Connection, incident_id: str) -> list[EvidenceAccount]:
    rows = conn.execute(
        text(
            "SELECT account_id, frozen_at, ledger, currency, balance_minor, entries, sha256"
            " FROM evidence_accounts WHERE incident_id = :i ORDER BY account_id"
        ),
        {"i": incident_id},
    ).all()
    return [
        EvidenceAccount(
            account_id=str(r[0]),
            frozen_at=str(r[1]),
            ledger=str(r[2]),
            currency=None if r[3] is None else str(r[3]),
            balance_minor=None if r[4] is None else int(r[4]),
            entries=int(r[5]),
            sha256=str(r[6]),
        )
        for r in rows
    ]


def incidents_with_evidence(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT incident_id FROM evidence_accounts UNION SELECT incident_id FROM evidence_sets"
            " ORDER BY 1"
        )
    ).all()
    return [str(r[0]) for r in rows]


def stream_bodies(
    conn: Connection, incident_id: str
) -> Iterator[tuple[str, str, str, Any, Any, int]]:
    """(account_id, sha256, body, currency, balance_minor, entries) of the incident's accounts,
    a page at a time (bodies can be large)."""
    after = ""
    while True:
        rows = conn.execute(
            text(
                "SELECT account_id, sha256, body, currency, balance_minor, entries"
                " FROM evidence_accounts WHERE incident_id = :i AND account_id > :after"
                " ORDER BY account_id LIMIT :n"
            ),
            {"i": incident_id, "after": after, "n": READ_PAGE},
        ).all()
        for r in rows:
            yield str(r[0]), str(r[1]), str(r[2]), r[3], r[4], int(r[5])
        if len(rows) < READ_PAGE:
            return
        after = str(rows[-1][0])


def sets(conn: Connection, incident_id: str) -> list[tuple[int, str, int, str]]:
    """(number, frozen_at, accounts, sha256) of every set of the incident, oldest first."""
    rows = conn.execute(
        text(
            "SELECT number, frozen_at, accounts, sha256 FROM evidence_sets WHERE incident_id = :i"
            " ORDER BY number"
        ),
        {"i": incident_id},
    ).all()
    return [(int(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]


def in_freeze_order(conn: Connection, incident_id: str) -> list[tuple[str, str]]:
    """(account_id, sha256) of the incident's accounts in the order they were frozen (the
    rowid: the table is append-only), so set k covers the first ``accounts`` of them."""
    rows = conn.execute(
        text(
            "SELECT account_id, sha256 FROM evidence_accounts WHERE incident_id = :i"
            " ORDER BY rowid"
        ),
        {"i": incident_id},
    ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def unfrozen_reconciler_accounts(
    conn: Connection, incident_id: str | None = None
) -> dict[str, list[str]]:
    """incident → the ``labels.account_id`` of its linked reconciler alerts (any status) not
    frozen for it yet: of one incident, or of every unresolved incident."""
    where = "a.incident_id = :i" if incident_id is not None else "i.status <> 'resolved'"
    rows = conn.execute(
        text(
            "SELECT a.incident_id, a.labels FROM alerts a JOIN incidents i ON i.id = a.incident_id"
            f" WHERE a.source = :s AND {where}"
        ),
        {"s": SOURCE, "i": incident_id},
    ).all()
    wanted: dict[str, set[str]] = {}
    for inc, labels in rows:
        account = str(json.loads(labels).get("account_id") or "")
        if account:
            wanted.setdefault(str(inc), set()).add(account)
    out: dict[str, list[str]] = {}
    for inc, accounts in sorted(wanted.items()):
        missing = accounts - set(frozen_accounts(conn, inc))
        if missing:
            out[inc] = sorted(missing)
    return out
