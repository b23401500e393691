"""Firing reconciler alerts as the Triage screen groups them: incident candidates per check,
each alert group's impact (``group_impacts``, the ``ImpactReader`` the alerts' grouping is
given), the accounts affected (by a check, or by an incident's linked alerts)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from incidentbook.core.alerts.model import GroupImpact
from incidentbook.core.ledger.checks import CHECKS_WITHOUT_DELTA
from incidentbook.core.ledger.reconcile.model import SOURCE, IncidentCandidate
from incidentbook.core.ledger.reconcile.runs import connection

if TYPE_CHECKING:
    from incidentbook.storage.db import Database

SEVERITY_ORDER = ("critical", "error", "warning", "info")


def incident_candidates(db: Database) -> list[IncidentCandidate]:
    """Firing reconciler alerts grouped by check: accounts affected, total delta per currency,
    first and last seen. Worst severity first, then most accounts."""
    with db.read() as session:
        rows = (
            connection(session)
            .execute(
                text(
                    "SELECT name, severity, labels, annotations, first_seen, last_seen,"
                    " incident_id FROM alerts WHERE source = :s AND status = 'firing'"
                ),
                {"s": SOURCE},
            )
            .all()
        )
    grouped: dict[str, dict[str, Any]] = {}
    for name, severity, labels, notes_json, first, last, incident in rows:
        label_map = json.loads(labels)
        notes = json.loads(notes_json)
        g = grouped.setdefault(
            name,
            {"severity": severity, "alerts": 0, "accounts": set(), "delta": {}, "first": first,
             "last": last, "incident": incident},
        )  # fmt: skip
        g["alerts"] += 1
        g["accounts"].add(label_map.get("account_id", ""))
        currency = label_map.get("currency", "")
        try:
            delta = int(notes.get("delta_minor", "0"))
        except ValueError:
            delta = 0
        g["delta"][currency] = g["delta"].get(currency, 0) + delta
        g["first"] = min(g["first"], first)
        g["last"] = max(g["last"], last)
        g["incident"] = g["incident"] or incident
    out = [
        IncidentCandidate(
            check=name,
            severity=g["severity"],
            alerts=g["alerts"],
            accounts=len(g["accounts"]),
            delta_by_currency=dict(sorted(g["delta"].items())),
            first_seen=g["first"],
            last_seen=g["last"],
            incident_id=g["incident"],
        )
        for name, g in grouped.items()
    ]
    return sorted(out, key=lambda c: (SEVERITY_ORDER.index(c.severity), -c.accounts, c.check))


# Per alert group of firing reconciler alerts: distinct accounts and the ledger-time window
# (bad_from/bad_to: fixed-width UTC text, so MIN/MAX compare times).
_GROUP_ACCOUNTS_SQL = (
    "SELECT group_key, COUNT(DISTINCT json_extract(labels, '$.account_id')),"
    " MIN(json_extract(annotations, '$.bad_from')), MAX(json_extract(annotations, '$.bad_to'))"
    " FROM alerts WHERE source = :s AND status = 'firing'{linked} GROUP BY group_key"
)
# ... and the sum of the findings' deltas per currency: integers end to end (SQLite's SUM of
# integers is exact and fails on overflow), none for the checks that move no money.
_GROUP_DELTAS_SQL = (
    "SELECT group_key, json_extract(labels, '$.currency'),"
    " SUM(CAST(json_extract(annotations, '$.delta_minor') AS INTEGER))"
    " FROM alerts WHERE source = :s AND status = 'firing'{linked} AND name NOT IN ({skip})"
    " GROUP BY group_key, json_extract(labels, '$.currency')"
)


def group_impacts(session: Any, incident_id: str | None = None) -> dict[str, GroupImpact]:
    """The impact of every alert group holding firing reconciler alerts, by group key
    (DESIGN §4): distinct accounts, the sum of the findings' deltas per currency, the
    earliest ``bad_from`` and latest ``bad_to`` of their findings (None where none says).
    With ``incident_id``, only the alerts linked to that incident count (the impact of the
    incident's groups, for ``incident show``). Two aggregates over the alerts table; other
    sources' alerts are not counted."""
    conn = connection(session)
    skip = ", ".join(f":x{i}" for i in range(len(CHECKS_WITHOUT_DELTA)))
    names = {f"x{i}": check for i, check in enumerate(CHECKS_WITHOUT_DELTA)}
    linked = "" if incident_id is None else " AND incident_id = :i"
    params: dict[str, Any] = {"s": SOURCE}
    if incident_id is not None:
        params["i"] = incident_id
    deltas: dict[str, dict[str, int]] = {}
    for key, currency, total in conn.execute(
        text(_GROUP_DELTAS_SQL.format(skip=skip, linked=linked)), {**params, **names}
    ):
        deltas.setdefault(str(key), {})[str(currency or "")] = int(total or 0)
    return {
        str(key): GroupImpact(
            accounts=int(accounts),
            delta_minor_by_currency=dict(sorted(deltas.get(str(key), {}).items())),
            first_bad_at=first,
            last_bad_at=last,
        )
        for key, accounts, first, last in conn.execute(
            text(_GROUP_ACCOUNTS_SQL.format(linked=linked)), params
        )
    }


def affected_accounts(db: Database, check: str | None = None, limit: int = 1000) -> list[str]:
    """Accounts with firing reconciler alerts (of one check), for the Triage/Incident screens."""
    with db.read() as session:
        rows = (
            connection(session)
            .execute(
                text(
                    "SELECT DISTINCT json_extract(labels, '$.account_id') AS account FROM alerts"
                    " WHERE source = :s AND status = 'firing' AND (:c IS NULL OR name = :c)"
                    " ORDER BY account LIMIT :n"
                ),
                {"s": SOURCE, "c": check, "n": limit},
            )
            .all()
        )
    return [str(r[0]) for r in rows if r[0]]


def incident_accounts(db: Database, incident_id: str, limit: int = 1000) -> list[str]:
    """Accounts affected by an incident: those of the reconciler alerts linked to it."""
    with db.read() as session:
        rows = (
            connection(session)
            .execute(
                text(
                    "SELECT DISTINCT json_extract(labels, '$.account_id') AS account FROM alerts"
                    " WHERE source = :s AND incident_id = :i ORDER BY account LIMIT :n"
                ),
                {"s": SOURCE, "i": incident_id, "n": limit},
            )
            .all()
        )
    return [str(r[0]) for r in rows if r[0]]
