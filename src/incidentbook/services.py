"""The service factory the CLI, the app and the receiver share: one per workspace."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from incidentbook.context import Context, new_correlation_id
from incidentbook.settings import Settings

# The services import SQLAlchemy; the app builds Services before its first paint, so they
# are imported when first used (in a worker), not here.
if TYPE_CHECKING:
    from incidentbook.core.alerts.model import AlertState
    from incidentbook.core.alerts.service import AlertService
    from incidentbook.core.changes.service import ChangeService
    from incidentbook.core.documents.postmortem import PostmortemService
    from incidentbook.core.documents.premortem import PremortemService
    from incidentbook.core.documents.service import DocumentService
    from incidentbook.core.evidence.service import EvidenceService
    from incidentbook.core.fixes.service import FixService
    from incidentbook.core.health.service import HealthService
    from incidentbook.core.incidents.service import IncidentService
    from incidentbook.core.ledger.reconcile.service import ReconcileService
    from incidentbook.core.runbooks.matching import Suggester
    from incidentbook.storage.db import Database


@dataclass
class Services:
    settings: Settings
    # How long a write waits for another writer's lock (None: the default, long wait); the
    # receiver sets a short one and answers 503 with Retry-After when it runs out.
    lock_wait_s: float | None = None

    @cached_property
    def db(self) -> Database:
        from incidentbook.storage.db import Database

        return Database(
            self.settings.db_path,
            lock_wait_s=self.lock_wait_s,
            refuse_create=self.missing_state_reason,
        )

    def missing_state_reason(self) -> str | None:
        """Why a missing state database must not be made anew: documents refer to it."""
        # Deferred like the rest; files alone (no SQLAlchemy), as the app asks before it paints.
        from incidentbook.core.documents.files import files_recording_heads, shown

        found = files_recording_heads(self.settings)
        if not found:
            return None
        many = f" and {len(found) - 1} more" if len(found) > 1 else ""
        return f"{shown(self.settings, found[0])}{many} record events it held"

    @cached_property
    def incidents(self) -> IncidentService:
        from incidentbook.core.fixes.gate import closure_check
        from incidentbook.core.incidents.service import IncidentService

        return IncidentService(self.db, closure_gate=closure_check)

    @cached_property
    def evidence(self) -> EvidenceService:
        from incidentbook.core.evidence.service import EvidenceService

        return EvidenceService(self.db)

    @cached_property
    def alerts(self) -> AlertService:
        from incidentbook.core.alerts.service import AlertService
        from incidentbook.core.ledger.contract import LedgerError
        from incidentbook.core.ledger.reconcile.candidates import group_impacts
        from incidentbook.core.runbooks.matching import matched_runbook

        settings = self.settings

        def runbook_for(alert: AlertState) -> str | None:
            return matched_runbook(settings, alert.name, alert.labels, alert.annotations)

        def freeze_evidence(ctx: Context, incident_id: str, ledger_url: str | None) -> str | None:
            try:
                self.evidence.freeze_incident(ctx, incident_id, ledger_url or settings.ledger_url)
            except LedgerError as exc:
                return f"evidence not frozen ({exc}); the next reconcile run freezes it"
            return None

        return AlertService(
            self.db,
            self.incidents,
            self.settings.alert_group_by,
            impacts=group_impacts,
            runbook_for=runbook_for,
            after_ack=freeze_evidence,
        )

    @cached_property
    def changes(self) -> ChangeService:
        from incidentbook.core.changes.service import ChangeService
        from incidentbook.core.documents.facts import detection_anchor

        db = self.db
        return ChangeService(
            db,
            window_s=self.settings.change_window_s,
            anchor_of=lambda incident_id: detection_anchor(db, incident_id),
        )

    @cached_property
    def runbook_suggester(self) -> Suggester:
        """Runbook suggestions from the search index, for ``match_runbooks``."""
        from incidentbook.core.search.suggest import runbook_suggester

        return runbook_suggester(self.settings, self.db)

    @cached_property
    def documents(self) -> DocumentService:
        from incidentbook.core.documents.service import DocumentService

        return DocumentService(self.settings, self.db)

    @cached_property
    def postmortems(self) -> PostmortemService:
        from incidentbook.core.documents.postmortem import PostmortemService

        evidence = self.evidence
        ledger_url = self.settings.ledger_url
        return PostmortemService(
            self.settings,
            self.db,
            self.incidents,
            self.documents,
            self.context,
            self.changes,
            evidence=lambda incident_id: evidence.compare(incident_id, ledger_url),
        )

    @cached_property
    def premortems(self) -> PremortemService:
        from incidentbook.core.documents.premortem import PremortemService

        return PremortemService(self.settings, self.db, self.documents, self.context)

    @cached_property
    def fixes(self) -> FixService:
        from incidentbook.core.fixes.service import FixService

        return FixService(self.db, self.incidents, self.settings.state_dir / "fix.lock")

    @cached_property
    def reconciler(self) -> ReconcileService:
        from incidentbook.core.ledger.reconcile.service import ReconcileService

        return ReconcileService(
            self.db,
            self.alerts,
            config=self.settings.config,
            ledger_url=self.settings.ledger_url,
            state_dir=self.settings.state_dir,
            clock=self.settings.clock,
            after_publish=self.evidence.freeze_pending,
        )

    @cached_property
    def health(self) -> HealthService:
        from incidentbook.core.health.service import HealthService

        return HealthService(self.db, self.reconciler, self.settings.clock)

    def context(
        self,
        reason: str | None = None,
        *,
        correlation_id: str | None = None,
        actor: str | None = None,
    ) -> Context:
        return Context(
            actor=actor or self.settings.actor,
            correlation_id=correlation_id or new_correlation_id(),
            reason=reason,
            clock=self.settings.clock,
        )


def make_services(settings: Settings, *, lock_wait_s: float | None = None) -> Services:
    return Services(settings, lock_wait_s=lock_wait_s)
