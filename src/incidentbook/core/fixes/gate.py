"""The closure gate (DESIGN §10 ``incident resolve``): the facts that say whether an incident
may be resolved, read in the caller's transaction. ``IncidentService`` is given this function
by the composition root, so the incidents package knows nothing of fixes or the reconciler."""

from __future__ import annotations

from sqlmodel import Session

from incidentbook.core.fixes import store
from incidentbook.core.incidents.model import CORRECTION_APPLIED, STREAM_PREFIX, ClosureCheck


def closure_check(session: Session, incident_id: str) -> ClosureCheck:
    return ClosureCheck(
        firing=store.firing_findings(session, incident_id),
        last_correction_at=store.last_correction_at(
            session, STREAM_PREFIX + incident_id, CORRECTION_APPLIED
        ),
        last_run_started_at=store.last_complete_run_started(session),
    )
