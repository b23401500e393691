"""``verify``'s evidence check: every frozen body re-hashed and parsed back to its columns,
every set's hash recomputed over the accounts frozen up to it."""

from __future__ import annotations

import json
from typing import Any

from incidentbook.core.events.projection import CheckResult
from incidentbook.core.evidence import store
from incidentbook.core.evidence.model import canonical, set_hash
from incidentbook.core.ledger.reconcile.runs import connection
from incidentbook.digest import sha256_hex
from incidentbook.storage.db import Database


def check_evidence(db: Database) -> CheckResult:
    """A body whose hash, account id or summary columns disagree with it, and a set whose
    hash is not that of the accounts frozen up to it, are problems naming the incident (and
    the account)."""
    result = CheckResult("evidence")
    with db.read() as session:
        conn = connection(session)
        for incident_id in store.incidents_with_evidence(conn):
            for account, digest, body, currency, balance, entries in store.stream_bodies(
                conn, incident_id
            ):
                result.checked += 1
                problem = body_problem(account, digest, body, currency, balance, entries)
                if problem:
                    result.problems.append(f"evidence {incident_id} account {account}: {problem}")
            order = store.in_freeze_order(conn, incident_id)
            for number, _at, count, digest in store.sets(conn, incident_id):
                result.checked += 1
                if count > len(order) or set_hash(order[:count]) != digest:
                    result.problems.append(
                        f"evidence {incident_id} set {number}: its sha256 is not that of the"
                        f" {count} accounts frozen up to it"
                    )
    return result


def body_problem(
    account: str, digest: str, body: str, currency: Any, balance: Any, entries: int
) -> str | None:
    data = body.encode()
    if sha256_hex(data) != digest:
        return "body does not match its sha256 (edited after it was frozen)"
    try:
        parsed = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not isinstance(parsed, dict) or canonical(parsed) != data:
        return "body is not canonical JSON"
    record = parsed.get("account") or {}
    entries_in_body = len(parsed.get("entries") or [])
    summary = (record.get("currency"), record.get("balance_minor"), entries_in_body)
    if parsed.get("account_id") != account or summary != (currency, balance, entries):
        return "its columns disagree with its body"
    return None
