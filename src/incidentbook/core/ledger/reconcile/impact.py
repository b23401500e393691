"""The impact of an incident's reconciler groups (DESIGN §4 "A group's impact", for ``incident
show``): per group key of the firing reconciler alerts linked to the incident, its accounts,
deltas per currency and ledger-time window; and, for a ``duplicate_posting`` group, how many
of its accounts also fail ``balance_mismatch``. Read from the alerts table only (no ledger
connection): an account fails ``balance_mismatch`` when its firing balance finding says so,
as ``incident accounts`` shows it beside the duplicate. Returns data; the CLI renders it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from incidentbook.core.alerts.model import GroupImpact
from incidentbook.core.ledger.reconcile.accounts import BALANCE, DUPLICATE, linked_findings
from incidentbook.core.ledger.reconcile.candidates import group_impacts

if TYPE_CHECKING:
    from incidentbook.storage.db import Database


@dataclass(frozen=True)
class IncidentGroup:
    """One reconciler group of an incident, with the impact of its alerts linked to it.
    ``duplicate_accounts_failing_balance`` is set for ``duplicate_posting`` only."""

    key: str
    impact: GroupImpact
    duplicate_accounts_failing_balance: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            **asdict(self.impact),
            "duplicate_accounts_failing_balance": self.duplicate_accounts_failing_balance,
        }


@dataclass(frozen=True)
class IncidentImpact:
    incident_id: str
    groups: list[IncidentGroup]

    def to_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "groups": [g.to_dict() for g in self.groups]}


def duplicates_failing_balance(db: Database, incident_id: str) -> int:
    """Accounts with a firing ``duplicate_posting`` finding linked to the incident that also
    have a firing ``balance_mismatch`` finding (linked to it or not)."""
    rows = linked_findings(db, incident_id)
    duplicates = {
        r.account_id
        for r in rows
        if r.finding.check == DUPLICATE and r.finding.linked and r.finding.status == "firing"
    }
    failing = {
        r.account_id for r in rows if r.finding.check == BALANCE and r.finding.status == "firing"
    }
    return len(duplicates & failing)


def incident_impact(db: Database, incident_id: str) -> IncidentImpact:
    """The incident's reconciler groups (those of its firing linked reconciler alerts), by
    group key; none for an incident without reconciler alerts."""
    with db.read() as session:
        impacts = group_impacts(session, incident_id)
    groups = [
        IncidentGroup(
            key,
            impact,
            duplicates_failing_balance(db, incident_id) if key == DUPLICATE else None,
        )
        for key, impact in sorted(impacts.items())
    ]
    return IncidentImpact(incident_id, groups)
