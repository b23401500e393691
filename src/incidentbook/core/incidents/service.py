"""The incident use cases: open, acknowledge, annotate, link, resolve, reopen, and reads.

Every command is idempotent: a transition to the state an incident is already in records
nothing and reports ``changed=False``; creations accept an idempotency key. Each change is
one event plus its projection row (``store``), written in the same transaction; ``verify``
re-derives every incident to prove the projection honest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from incidentbook.context import Context
from incidentbook.core.events.model import Event
from incidentbook.core.events.store import append, find_by_key, stream_events
from incidentbook.core.incidents import store
from incidentbook.core.incidents.model import (
    ACKNOWLEDGED,
    NOTE_ADDED,
    OPENED,
    REOPENED,
    RESOLVED,
    RETITLED,
    RUNBOOK_LINKED,
    SEVERITY_CHANGED,
    STREAM_PREFIX,
    ClosureCheck,
    IncidentState,
    Outcome,
    apply,
    check_severity,
    format_id,
    parse_id,
    triage_order,
)
from incidentbook.errors import CheckFailed, ConflictError, UsageError
from incidentbook.obs import log_info
from incidentbook.storage.db import Database

ClosureGate = Callable[[Session, str], ClosureCheck]


class IncidentService:
    """The one way the CLI, the app and the receiver change incidents. ``closure_gate``
    (wired by the composition root: ``core/fixes``) says whether an incident may be resolved
    while its reconciler findings fire."""

    def __init__(self, db: Database, closure_gate: ClosureGate | None = None) -> None:
        self.db = db
        self.closure_gate = closure_gate

    # -- reads ---------------------------------------------------------------------------

    def get(self, incident_id: str) -> IncidentState:
        with self.db.read() as session:
            return store.load(session, parse_id(incident_id))

    def list_incidents(self, *, include_resolved: bool = False) -> list[IncidentState]:
        with self.db.read() as session:
            states = store.load_all(session, include_resolved=include_resolved)
        return sorted(states, key=triage_order)

    def timeline(self, incident_id: str) -> list[Event]:
        canonical = parse_id(incident_id)
        with self.db.read() as session:
            store.load(session, canonical)
            return stream_events(session, STREAM_PREFIX + canonical)

    # -- writes --------------------------------------------------------------------------

    def open(
        self,
        ctx: Context,
        title: str,
        severity: str = "error",
        *,
        idempotency_key: str | None = None,
        source: str = "manual",
        group_key: str | None = None,
    ) -> Outcome:
        clean_title = " ".join(title.split())
        if not clean_title:
            raise UsageError("an incident needs a non-empty --title")
        level = check_severity(severity)
        key = f"incident.open:{idempotency_key}" if idempotency_key else None
        with self.db.write() as session:
            if key is not None:
                previous = find_by_key(session, key)
                if previous is not None:
                    existing = store.load(session, previous.stream.removeprefix(STREAM_PREFIX))
                    if previous.data.get("title") != clean_title:
                        raise ConflictError(
                            f"idempotency key {idempotency_key!r} already opened {existing.id} "
                            f"with a different title"
                        )
                    return Outcome(existing, False, message=f"{existing.id} already open")
            else:
                # Without a key, a repeat is an unresolved incident with the same title
                # (or, from an alert group, the same group): return it rather than a twin.
                twin = store.find_unresolved_twin(session, clean_title, group_key)
                if twin is not None:
                    return Outcome(twin, False, message=f"{twin.id} is already open")
            number = store.next_number(session)
            incident_id = format_id(number)
            event = append(
                session,
                ctx,
                STREAM_PREFIX + incident_id,
                OPENED,
                {
                    "number": number,
                    "title": clean_title,
                    "severity": level,
                    "source": source,
                    "group_key": group_key,
                },
                idempotency_key=key,
            )
            state = apply(None, event)
            store.save(session, ctx, state)
        _log(ctx, event, state)
        return Outcome(state, True, event, f"opened {incident_id}")

    def acknowledge(self, ctx: Context, incident_id: str) -> Outcome:
        def guard(state: IncidentState) -> str | None:
            if state.status == "resolved":
                raise ConflictError(f"{state.id} is resolved; reopen it before acknowledging")
            return "already acknowledged" if state.status == "acknowledged" else None

        return self._transition(ctx, incident_id, ACKNOWLEDGED, {}, guard)

    def closure(self, incident_id: str) -> ClosureCheck | None:
        """What the closure gate says about the incident now (None: no gate wired)."""
        canonical = parse_id(incident_id)
        if self.closure_gate is None:
            return None
        with self.db.read() as session:
            store.load(session, canonical)
            return self.closure_gate(session, canonical)

    def resolve(self, ctx: Context, incident_id: str, *, force: bool = False) -> Outcome:
        """Resolve, unless the closure gate refuses (``CheckFailed``, exit 1); ``force``
        overrides it with ``ctx.reason`` and records the override on the event."""
        check = self.closure(incident_id)
        data: dict[str, Any] = {}
        if check is not None and check.blocked:
            if not force:
                state = self.get(incident_id)
                if state.status != "resolved":
                    raise CheckFailed(f"{state.id}: {check.refusal()}")
            elif not (ctx.reason or "").strip():
                raise UsageError("--force needs --reason: say why it closes with the gate shut")
            else:
                data = {"forced": True, "overrode": check.refusal(), "firing": check.firing}

        def guard(state: IncidentState) -> str | None:
            return "already resolved" if state.status == "resolved" else None

        return self._transition(ctx, incident_id, RESOLVED, data, guard)

    def reopen(self, ctx: Context, incident_id: str) -> Outcome:
        def guard(state: IncidentState) -> str | None:
            return None if state.status == "resolved" else f"not resolved ({state.status})"

        return self._transition(ctx, incident_id, REOPENED, {}, guard)

    def set_severity(self, ctx: Context, incident_id: str, level: str) -> Outcome:
        new_level = check_severity(level)

        def guard(state: IncidentState) -> str | None:
            return f"severity is already {new_level}" if state.severity == new_level else None

        return self._transition(
            ctx,
            incident_id,
            SEVERITY_CHANGED,
            lambda state: {"from": state.severity, "to": new_level},
            guard,
        )

    def add_note(
        self, ctx: Context, incident_id: str, text: str, *, idempotency_key: str | None = None
    ) -> Outcome:
        body = text.strip()
        if not body:
            raise UsageError("a note needs some text")
        canonical = parse_id(incident_id)
        # A repeated identical note is a retry, not news; an explicit key says otherwise.
        digest = idempotency_key or hashlib.sha256(body.encode()).hexdigest()[:32]
        key = f"incident.note:{canonical}:{digest}"
        return self._transition(ctx, canonical, NOTE_ADDED, {"text": body}, None, key=key)

    def link_runbook(self, ctx: Context, incident_id: str, runbook: str) -> Outcome:
        ref = runbook.strip()
        if not ref:
            raise UsageError("a runbook link needs a runbook id or path")

        def guard(state: IncidentState) -> str | None:
            return f"{ref} already linked" if ref in state.runbooks else None

        return self._transition(ctx, incident_id, RUNBOOK_LINKED, {"runbook": ref}, guard)

    # -- machinery -----------------------------------------------------------------------

    def _transition(
        self,
        ctx: Context,
        incident_id: str,
        type_: str,
        data: dict[str, Any] | Callable[[IncidentState], dict[str, Any]],
        guard: Callable[[IncidentState], str | None] | None,
        *,
        key: str | None = None,
    ) -> Outcome:
        """Record one event unless the idempotency key was seen or ``guard`` says the incident
        is already there (it returns why). ``data`` may be built from the current state."""
        canonical = parse_id(incident_id)
        with self.db.write() as session:
            state = store.load(session, canonical)
            if key is not None and find_by_key(session, key) is not None:
                return Outcome(state, False, message="already recorded")
            if guard is not None:
                unchanged = guard(state)
                if unchanged:
                    return Outcome(state, False, message=f"{canonical}: {unchanged}")
            payload = data(state) if callable(data) else data
            event = append(
                session, ctx, STREAM_PREFIX + canonical, type_, payload, idempotency_key=key
            )
            state = apply(state, event)
            store.save(session, ctx, state)
        _log(ctx, event, state)
        return Outcome(state, True, event, f"{canonical}: {type_.split('.', 1)[1]}")

    def retitle_in(
        self, session: Session, ctx: Context, incident_id: str, title: str
    ) -> IncidentState | None:
        """Give an incident a new title inside a caller's transaction (an
        ``incident.retitled`` event, attributed to ``ctx.actor``); the new state, or None
        when the title is already that (idempotent: nothing recorded)."""
        clean_title = " ".join(title.split())
        if not clean_title:
            raise UsageError("an incident needs a non-empty title")
        state = store.load(session, incident_id)
        if state.title == clean_title:
            return None
        event = append(
            session,
            ctx,
            STREAM_PREFIX + incident_id,
            RETITLED,
            {"from": state.title, "to": clean_title},
        )
        state = apply(state, event)
        store.save(session, ctx, state)
        _log(ctx, event, state)
        return state

    def apply_in(
        self, session: Session, ctx: Context, incident_id: str, type_: str, data: dict[str, Any]
    ) -> IncidentState:
        """Record an event on an incident inside a caller's transaction (e.g. an alert ingest
        joining an acknowledged incident), keeping the projection and outbox in step."""
        state = store.load(session, incident_id)
        event = append(session, ctx, STREAM_PREFIX + incident_id, type_, data)
        state = apply(state, event)
        store.save(session, ctx, state)
        return state


def _log(ctx: Context, event: Event, state: IncidentState) -> None:
    log_info(
        event.type,
        ctx.correlation_id,
        actor=ctx.actor,
        reason=ctx.reason,
        stream=event.stream,
        seq=event.seq,
        incident=state.id,
        status=state.status,
        severity=state.severity,
    )
