"""Who does a change, why, and under which request: attached to every event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from incidentbook.clock import Clock, utc_now


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Context:
    actor: str
    correlation_id: str
    reason: str | None = None
    clock: Clock = utc_now

    def because(self, reason: str | None) -> Context:
        return replace(self, reason=reason) if reason is not None else self

    def as_actor(self, actor: str) -> Context:
        return replace(self, actor=actor)
