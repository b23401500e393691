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
    from incidentbook.core.alerts import AlertService
    from incidentbook.core.incidents import IncidentService
    from incidentbook.core.ledger.reconcile.service import ReconcileService
    from incidentbook.storage.db import Database


@dataclass
class Services:
    settings: Settings

    @cached_property
    def db(self) -> Database:
        from incidentbook.storage.db import Database

        return Database(self.settings.db_path)

    @cached_property
    def incidents(self) -> IncidentService:
        from incidentbook.core.incidents import IncidentService

        return IncidentService(self.db)

    @cached_property
    def alerts(self) -> AlertService:
        from incidentbook.core.alerts import AlertService

        return AlertService(self.db, self.settings.alert_group_by)

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
        )

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


def make_services(settings: Settings) -> Services:
    return Services(settings)
