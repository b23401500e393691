"""``AlertService``: the alerts' use cases, over the store, the model and the incidents.

Ingest (a batch, one alert inside a caller's transaction, an Alertmanager notification, a
PagerDuty event, a file of JSON lines, each with SQLite lock retry), PagerDuty's acknowledge,
linking alerts and incidents, acknowledging a group, and the reads. A receipt key (the hash of
an ingested file's line) makes an exact replay of the same input a no-op, so re-ingesting a
file changes nothing. The reconciler takes none: each page of its alerts commits with the
cursor past it, so a resumed run never offers one twice.

Alerts that join an open incident are linked in one batch event per incident and transaction
(``incident.alerts_linked``), so 5,000 reconciler alerts do not flood the incident timeline.
An incident opened from a reconciler group is titled with the group's impact and retitled (an
``incident.retitled`` event) when the group changes: once per reconcile run, and when
``acknowledge_group`` reuses it.
The incidents come from the ``IncidentService`` this service is given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from incidentbook.clock import parse_iso, to_iso
from incidentbook.context import Context
from incidentbook.core.alerts import grouping
from incidentbook.core.alerts.formats.alertmanager import AlertmanagerPayload
from incidentbook.core.alerts.formats.files import (
    FileIngestReport,
    OpenLines,
    check_lines,
    check_options,
    line_receipt,
    parse_lines,
)
from incidentbook.core.alerts.formats.pagerduty import PagerDutyEvent
from incidentbook.core.alerts.model import (
    ACKNOWLEDGED,
    JOINED,
    REPEATED,
    RESOLVED,
    STREAM_PREFIX,
    AlertGroup,
    AlertState,
    IngestResult,
    NativeAlert,
    apply,
    changed_fields,
    check_status,
    closing_alert,
    decide,
    group_incident_title,
    group_key_for,
    indexed_view,
    last_acknowledged_at,
    worst_severity,
)
from incidentbook.core.alerts.requests import IngestRequest, list_requests, record_request_in
from incidentbook.core.alerts.store import (
    Batch,
    Texts,
    append_event,
    firing_in_group,
    get_state,
    incident_alerts,
    incidents_opened_from_groups,
    list_states,
    load_row,
    name_in_group,
    open_incident_of_group,
    row_values,
    save_state,
    state_from_row,
    take_receipt,
    with_lock_retry,
    write_row,
)
from incidentbook.core.events.model import Event
from incidentbook.core.events.store import append, queue_for_index, stream_events
from incidentbook.core.incidents.model import (
    ALERT_LINKED,
    ALERTS_LINKED,
    GROUP_JOINED,
    Outcome,
    parse_id,
)
from incidentbook.core.incidents.service import IncidentService
from incidentbook.errors import ConflictError, NotFoundError
from incidentbook.obs import log_info
from incidentbook.storage.db import Database

# The runbook (id) an alert is linked to by the rules, or None: wired in ``Services`` to
# ``incidentbook.core.runbooks.matching.matched_runbook`` over the workspace's runbooks.
RunbookFor = Callable[[AlertState], str | None]
# What runs after a group was acknowledged, given the incident and the ledger URL the caller
# named (None: the configured one); returns a warning line or None. Wired in ``Services`` to
# the evidence freeze (``EvidenceService.freeze_incident``): a ledger that cannot be read
# leaves the acknowledgement standing and says so.
AfterAck = Callable[[Context, str, str | None], str | None]


def _log_ingest(ctx: Context, result: IngestResult, **fields: Any) -> None:
    log_info("alerts.ingested", ctx.correlation_id, actor=ctx.actor, **result.to_dict(), **fields)


class AlertService:
    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        group_by: list[str] | None = None,
        impacts: grouping.ImpactReader | None = None,
        runbook_for: RunbookFor | None = None,
        after_ack: AfterAck | None = None,
    ) -> None:
        self.db = db
        self.incidents = incidents
        self.group_by = group_by or ["alertname"]
        self.impacts = impacts  # the groups' impact (the reconciler's), for ``groups``
        self.runbook_for = runbook_for  # the runbook ``acknowledge_group`` links, if any
        self.after_ack = after_ack  # what ``acknowledge_group`` does last (evidence), if any
        # Writers in this process (the receiver's worker threads) queue here, in order, rather
        # than in SQLite's busy handler, whose sleeps grow to 100 ms and make the tail latency.
        # Other processes (the app, the CLI) still meet them at the busy timeout.
        self._write_lock = threading.Lock()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self.db.holding(self._write_lock), self.db.write() as session:
            yield session

    def ingest(
        self,
        ctx: Context,
        alerts: list[NativeAlert],
        receipt_keys: list[str | None] | None = None,
        *,
        episodes_by_start: bool = False,
    ) -> IngestResult:
        """Store a batch in one transaction: all of it, or (on any error) none of it."""
        keys = receipt_keys or [None] * len(alerts)
        if len(keys) != len(alerts):
            raise ValueError("one receipt key per alert")
        result = IngestResult()
        with self._writing() as session:
            self.ingest_many_in(
                session, ctx, alerts, keys, result, episodes_by_start=episodes_by_start
            )
        _log_ingest(ctx, result)
        return result

    def ingest_many_in(
        self,
        session: Session,
        ctx: Context,
        alerts: list[NativeAlert],
        receipt_keys: list[str | None],
        result: IngestResult,
        *,
        episodes_by_start: bool = False,
        outcomes: list[str] | None = None,
        queue_every_group: bool = False,
    ) -> None:
        """Apply a batch inside the caller's transaction, then let new alerts of a group with
        an open incident join it (one batch link event per incident). ``outcomes``, if given,
        receives each alert's outcome in order (``new``, ``repeated``, ``replayed``…).
        A group is queued for the search index when an alert of it is new or re-fired, or
        (``queue_every_group``: a sender whose repeats and resolutions change the group's
        text) whenever an alert of it changes.

        The batch's known alerts and receipts are read with a few ``IN`` queries up front and
        its writes are flushed together, so a batch costs a handful of statements, not several
        per alert."""
        batch = Batch.prefetch(
            session, (a.fingerprint for a in alerts), receipt_keys, to_iso(ctx.clock())
        )
        batch.queue_every_group = queue_every_group
        joinable: dict[str, str] = {}
        for alert, key in zip(alerts, receipt_keys, strict=True):
            outcome = self._ingest_one(session, ctx, alert, key, episodes_by_start, batch)
            result.counts[outcome] += 1
            result.fingerprints.append(alert.fingerprint)
            if outcomes is not None:
                outcomes.append(outcome)
            if outcome in ("new", "refired"):
                state = batch.states[alert.fingerprint]
                assert state is not None
                joinable[alert.fingerprint] = state.group_key
        batch.write(session)
        if joinable:
            result.counts["joined"] += self.join_open_incidents_in(session, ctx, joinable)

    def ingest_in(
        self,
        session: Session,
        ctx: Context,
        alert: NativeAlert,
        receipt_key: str | None = None,
        *,
        episodes_by_start: bool = False,
    ) -> str:
        """Apply one alert inside the caller's transaction; return what happened to it."""
        return self._ingest_one(session, ctx, alert, receipt_key, episodes_by_start, None)

    def _ingest_one(
        self,
        session: Session,
        ctx: Context,
        alert: NativeAlert,
        receipt_key: str | None,
        episodes_by_start: bool,
        batch: Batch | None,
    ) -> str:
        fingerprint = alert.fingerprint
        if receipt_key is not None:
            if batch is not None:
                if receipt_key in batch.receipts:
                    return "replayed"
                batch.receipts.add(receipt_key)
                batch.new_receipts.append((receipt_key, fingerprint, batch.now))
            elif not take_receipt(session, ctx, receipt_key, fingerprint):
                return "replayed"
        row = load_row(session, fingerprint) if batch is None else None
        if batch is not None:
            state = batch.states.get(fingerprint)
        else:
            state = state_from_row(row) if row else None
        type_, outcome = decide(state, alert, episodes_by_start)
        if type_ is None:
            return outcome
        payload: dict[str, Any]
        if type_ == REPEATED:
            assert state is not None
            payload = {"alert": changed_fields(state, alert)}
        else:
            payload = {"alert": alert.to_dict(), "group_key": group_key_for(alert, self.group_by)}
        if type_ == RESOLVED and not alert.ends_at:
            payload["alert"]["ends_at"] = batch.now if batch is not None else to_iso(ctx.clock())
        event = append_event(session, ctx, STREAM_PREFIX + fingerprint, type_, payload, batch)
        new_state = apply(state, event)
        values = row_values(new_state, batch.texts.get(fingerprint) if batch else None)
        if batch is not None:
            batch.states[fingerprint] = new_state
            batch.texts[fingerprint] = Texts.of(new_state, values)
            if state is None or fingerprint in batch.inserts:
                batch.inserts[fingerprint] = values
            else:
                batch.updates[fingerprint] = values
        else:
            write_row(session, row, values)
        changes_group = indexed_view(state) != indexed_view(new_state) or (
            batch is not None and batch.queue_every_group
        )
        if changes_group and (batch is None or new_state.group_key not in batch.queued_groups):
            queue_for_index(session, ctx, "alert_group", new_state.group_key)
            if batch is not None:
                batch.queued_groups.add(new_state.group_key)
        return outcome

    def acknowledge_in(
        self, session: Session, ctx: Context, fingerprint: str, receipt_key: str | None = None
    ) -> str:
        """Record that the sender (PagerDuty) acknowledged a firing alert."""
        if receipt_key is not None and not take_receipt(session, ctx, receipt_key, fingerprint):
            return "replayed"
        state = get_state(session, fingerprint)
        if state is None or state.status != "firing":
            return "ignored"
        event = append(session, ctx, STREAM_PREFIX + fingerprint, ACKNOWLEDGED, {})
        save_state(session, apply(state, event))
        return "acknowledged"

    # -- senders ---------------------------------------------------------------------------

    def ingest_alertmanager(
        self, ctx: Context, payload: AlertmanagerPayload, receipt_key: str | None = None
    ) -> IngestResult:
        """One Alertmanager notification, all of it or none of it, with its request record."""

        def work() -> IngestResult:
            result = IngestResult(truncated_alerts=payload.truncated_alerts)
            keys: list[str | None] = (
                [f"{receipt_key}#{i}" for i in range(len(payload.alerts))]
                if receipt_key is not None
                else [None] * len(payload.alerts)
            )
            with self._writing() as session:
                self.ingest_many_in(
                    session, ctx, payload.alerts, keys, result, episodes_by_start=True
                )
                if self._first_receipt(session, ctx, receipt_key, payload.group_key):
                    record_request_in(
                        session,
                        ctx,
                        "alertmanager",
                        result,
                        group_key=payload.group_key,
                        receiver=payload.receiver,
                        alerts=len(payload.alerts),
                        truncated_alerts=payload.truncated_alerts,
                    )
            return result

        result = with_lock_retry(work, attempts=self.db.lock_attempts)
        _log_ingest(ctx, result, group_key=payload.group_key)
        return result

    def ingest_pagerduty(
        self, ctx: Context, event: PagerDutyEvent, receipt_key: str | None = None
    ) -> IngestResult:
        """One PagerDuty event (trigger, acknowledge or resolve) in one transaction."""

        def work() -> IngestResult:
            result = IngestResult()
            with self._writing() as session:
                if event.action == "trigger":
                    assert event.alert is not None
                    self.ingest_many_in(session, ctx, [event.alert], [receipt_key], result)
                elif event.action == "acknowledge":
                    result.counts[
                        self.acknowledge_in(session, ctx, event.dedup_key, receipt_key)
                    ] += 1
                    result.fingerprints.append(event.dedup_key)
                else:
                    state = get_state(session, event.dedup_key)
                    if state is None:
                        result.counts["ignored"] += 1
                    else:
                        closing = closing_alert(state, to_iso(ctx.clock()))
                        self.ingest_many_in(session, ctx, [closing], [receipt_key], result)
                if self._first_receipt(session, ctx, receipt_key, event.dedup_key):
                    record_request_in(
                        session, ctx, "pagerduty", result, group_key=event.dedup_key, alerts=1
                    )
            return result

        result = with_lock_retry(work, attempts=self.db.lock_attempts)
        _log_ingest(ctx, result, dedup_key=event.dedup_key, action=event.action)
        return result

    @staticmethod
    def _first_receipt(session: Session, ctx: Context, key: str | None, what: str) -> bool:
        """Whether this request is seen for the first time: always for the receiver (no key);
        for a file line, only the first time (a re-ingest adds no request record either)."""
        if key is None:
            return True
        return take_receipt(session, ctx, f"{key}@request", what)

    def ingest_lines(
        self,
        ctx: Context,
        open_lines: OpenLines,
        fmt: str = "native",
        *,
        on_error: str = "skip",
        batch_size: int = 1000,
        progress: Callable[[int], None] | None = None,
    ) -> FileIngestReport:
        """Ingest JSON lines (one alert, Alertmanager payload or PagerDuty event per line).

        ``open_lines`` returns an iterable of lines and may be called twice: with
        ``on_error="abort"`` every line is validated first and nothing is written if any fails
        (``PayloadError`` lists them with their line numbers). Native alerts commit in batches
        of ``batch_size``; every line carries a receipt (a hash of the line), so re-ingesting a
        file, or resuming one cut short, changes nothing. ``progress(lines)`` is called after
        each commit. Every transaction is retried when SQLite's lock outlasts its timeout.
        """
        check_options(fmt, on_error)
        now = to_iso(ctx.clock())
        result = IngestResult()
        report = FileIngestReport(result=result)
        if on_error == "abort":
            check_lines(open_lines, fmt, now)

        alerts: list[NativeAlert] = []
        keys: list[str | None] = []

        def flush() -> None:
            if alerts:
                batch, batch_keys = list(alerts), list(keys)
                result.merge(with_lock_retry(
                    lambda: self.ingest(ctx, batch, batch_keys), attempts=self.db.lock_attempts
                ))
                alerts.clear()
                keys.clear()
            if progress is not None:
                progress(report.lines)

        read = 0  # every line of the input, blank ones too (as change events count them)

        def counted() -> Iterator[str]:
            nonlocal read
            for text in open_lines():
                read += 1
                yield text

        for line in parse_lines(counted, fmt, now):
            report.lines = line.number
            if line.error is not None:
                report.skipped.append(line.error)
                continue
            receipt = line_receipt(fmt, line.text)
            value = line.value
            if isinstance(value, NativeAlert):
                alerts.append(value)
                keys.append(receipt)
                if len(alerts) >= batch_size:
                    flush()
            elif isinstance(value, AlertmanagerPayload):
                result.merge(self.ingest_alertmanager(ctx, value, receipt))
            elif isinstance(value, PagerDutyEvent):
                result.merge(self.ingest_pagerduty(ctx, value, receipt))
            if fmt != "native" and progress is not None and line.number % 100 == 0:
                progress(line.number)
        report.lines = read
        flush()
        return report

    # -- incidents ---------------------------------------------------------------------------

    def join_open_incidents_in(
        self, session: Session, ctx: Context, group_of: dict[str, str]
    ) -> int:
        """New alerts (fingerprint → group key) of a group whose incident is still unresolved
        join that incident.

        One link event per incident (not per alert); returns how many alerts joined."""
        session.flush()
        by_group: dict[str, list[str]] = {}
        for fingerprint, group_key in group_of.items():
            by_group.setdefault(group_key, []).append(fingerprint)
        joined = 0
        for group_key, members in by_group.items():
            incident_id = open_incident_of_group(session, group_key)
            if incident_id is None:
                continue
            joined += self.link_many_in(session, ctx, members, incident_id)
        return joined

    def link_to_incident(self, ctx: Context, fingerprint: str, incident_id: str) -> Outcome:
        """Link one alert and an incident both ways (``incident link-alert``); idempotent."""
        canonical = parse_id(incident_id)
        with self.db.write() as session:
            added = self.link_many_in(session, ctx, [fingerprint], canonical)
        state = self.incidents.get(canonical)
        message = (
            f"{canonical}: alert linked" if added else f"{canonical}: {fingerprint} already linked"
        )
        return Outcome(state, bool(added), message=message)

    def link_many_in(
        self, session: Session, ctx: Context, fingerprints: Iterable[str], incident_id: str
    ) -> int:
        """Link alerts and an incident both ways in the caller's transaction: one
        ``alert.joined_incident`` per alert stream, ONE event on the incident's timeline.
        Returns how many alerts were newly linked to the incident (idempotent)."""
        linked = incident_alerts(session, incident_id)
        if linked is None:
            raise NotFoundError(f"no incident {incident_id}")
        added: list[str] = []
        wanted = list(dict.fromkeys(fingerprints))
        batch = Batch.prefetch(session, wanted, [], to_iso(ctx.clock()))
        for fingerprint in wanted:
            state = batch.states.get(fingerprint)
            if state is None:
                raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
            if state.incident_id != incident_id:
                event = append_event(
                    session,
                    ctx,
                    STREAM_PREFIX + fingerprint,
                    JOINED,
                    {"incident_id": incident_id},
                    batch,
                )
                new_state = apply(state, event)
                batch.states[fingerprint] = new_state
                batch.updates[fingerprint] = row_values(new_state)
                # the group's search document names its incident: index it again
                if new_state.group_key not in batch.queued_groups:
                    queue_for_index(session, ctx, "alert_group", new_state.group_key)
                    batch.queued_groups.add(new_state.group_key)
            if fingerprint not in linked:
                linked.add(fingerprint)
                added.append(fingerprint)
        batch.write(session)
        if len(added) == 1:
            self.incidents.apply_in(
                session, ctx, incident_id, ALERT_LINKED, {"fingerprint": added[0]}
            )
        elif added:
            self.incidents.apply_in(
                session, ctx, incident_id, ALERTS_LINKED, {"fingerprints": added}
            )
        return len(added)

    def acknowledge_group(
        self,
        ctx: Context,
        group_key: str,
        *,
        severity: str | None = None,
        incident_id: str | None = None,
        ledger_url: str | None = None,
        reopen: bool = False,
    ) -> Outcome:
        """Acknowledge an alert group: open (or join) its incident, link its firing alerts and
        the runbook its alerts match (``runbook_for``), then run ``after_ack`` (the evidence
        freeze, from ``ledger_url`` or the configured ledger), whose warning, if any, is the
        outcome's.

        ``incident_id``: join that existing incident instead (both groups of one night belong
        to one incident): an ``incident.group_joined`` event records it, so the group's later
        alerts join it too. Without it, an unresolved incident the group opened or joined is
        reused. Idempotent: linked alerts and runbooks stay linked, and the incident's timeline
        gets one batch link event however large the group.

        A group whose firing alerts belong to a resolved incident (resolved while they still
        fire) never silently opens a second incident: it is refused (``ConflictError``) unless
        ``reopen``, which reopens that incident and acknowledges it.
        """
        with self.db.read() as session:
            firing = firing_in_group(session, group_key)
            current = open_incident_of_group(session, group_key)
            impact = self.impacts(session).get(group_key) if self.impacts is not None else None
        if not firing:
            raise NotFoundError(f"no firing alerts in group {group_key!r}")
        incidents = self.incidents
        opened_changed = reopened = False
        if incident_id is None and current is None:
            resolved = self.resolved_incident_of(firing)
            if resolved is not None and not reopen:
                raise ConflictError(
                    f"group {group_key}'s {len(firing)} firing alerts belong to {resolved}, "
                    f"which is resolved: reopen it (ack-group --reopen) rather than open a "
                    f"second incident"
                )
            if resolved is not None:
                reopened = incidents.reopen(ctx, resolved).changed
                current = resolved
        if incident_id is not None:
            target = incidents.get(incident_id)  # NotFoundError for an unknown incident
        elif current is not None:
            target = incidents.get(current)
        else:
            worst = worst_severity([a.severity for a in firing])
            title = group_incident_title(group_key, len(firing), firing[0].name, impact)
            opened = incidents.open(
                ctx, title, severity or worst, source="alert_group", group_key=group_key
            )
            target, opened_changed = opened.incident, opened.changed
        acked = incidents.acknowledge(ctx, target.id)
        with self.db.write() as session:
            added = self.link_many_in(session, ctx, [a.fingerprint for a in firing], target.id)
            joined = target.group_key != group_key and (
                open_incident_of_group(session, group_key) != target.id
            )
            if joined:
                incidents.apply_in(session, ctx, target.id, GROUP_JOINED, {"group_key": group_key})
            # a reused incident's group may have changed since it was opened
            retitled = bool(self.retitle_group_incidents_in(session, ctx, only=target.id))
        linked = False
        runbook = self.runbook_for(firing[0]) if self.runbook_for is not None else None
        if runbook:
            linked = incidents.link_runbook(ctx, target.id, runbook).changed
        warning = self.after_ack(ctx, target.id, ledger_url) if self.after_ack else None
        final = incidents.get(target.id)
        changed = (
            opened_changed or reopened or acked.changed or added > 0 or joined or linked
            or retitled
        )
        return Outcome(
            final,
            changed,
            message=f"group {group_key} → {target.id}",
            warnings=(warning,) if warning else (),
        )

    def resolved_incident_of(self, firing: list[AlertState]) -> str | None:
        """The newest resolved incident that some of the firing alerts were linked to and
        kept firing through: an alert whose episode began after that resolve is a recurrence,
        which rightly opens a new incident."""
        for alert in sorted(firing, key=lambda a: a.incident_id or "", reverse=True):
            if not alert.incident_id:
                continue
            incident = self.incidents.get(alert.incident_id)
            if incident.status != "resolved" or incident.resolved_at is None:
                continue
            if parse_iso(alert.starts_at or alert.first_seen) <= parse_iso(incident.resolved_at):
                return incident.id
        return None

    def retitle_group_incidents(self, ctx: Context) -> list[str]:
        """Keep the titles of the unresolved incidents opened from impact groups (the
        reconciler's) current with their group: see ``retitle_group_incidents_in``. The
        reconciler calls it once per run, after its publish and resolve pages."""
        with self._writing() as session:
            return self.retitle_group_incidents_in(session, ctx)

    def retitle_group_incidents_in(
        self, session: Session, ctx: Context, *, only: str | None = None
    ) -> list[str]:
        """Retitle (``incident.retitled``, by ``ctx.actor``) every unresolved incident opened
        from a group with an impact whose title no longer says that impact
        (``group_incident_title``); ``only``: just that incident. Idempotent: a title that
        is already current records nothing. A group without firing alerts keeps the title
        last given, and other sources' groups keep their opening title. Incidents opened by
        hand (``incident open --title``) are never retitled: the titles of group incidents
        follow the group (no command sets a title by hand today). Returns the ids retitled."""
        if self.impacts is None:
            return []
        session.flush()
        impacts = self.impacts(session)
        retitled: list[str] = []
        for incident_id, group_key in incidents_opened_from_groups(session):
            impact = impacts.get(group_key)
            if impact is None or (only is not None and incident_id != only):
                continue
            check = name_in_group(session, group_key)
            title = group_incident_title(group_key, 0, check, impact)
            if self.incidents.retitle_in(session, ctx, incident_id, title) is not None:
                retitled.append(incident_id)
        return retitled

    # -- reads ---------------------------------------------------------------------------

    def get(self, fingerprint: str) -> AlertState:
        with self.db.read() as session:
            state = get_state(session, fingerprint)
        if state is None:
            raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
        return state

    def history(self, fingerprint: str) -> list[Event]:
        """Every event of one alert, oldest first (fired, repeated, acknowledged, joined…)."""
        with self.db.read() as session:
            if load_row(session, fingerprint) is None:
                raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
            return stream_events(session, STREAM_PREFIX + fingerprint)

    def acknowledged_at(self, events: list[Event]) -> str | None:
        """When the sender last acknowledged the current episode, if it did."""
        return last_acknowledged_at(events)

    def requests(self, *, limit: int = 50, truncated_only: bool = False) -> list[IngestRequest]:
        """Accepted receiver requests, newest first (``truncated_only``: where Alertmanager
        dropped alerts from a notification, ``truncatedAlerts`` > 0)."""
        with self.db.read() as session:
            return list_requests(session, limit=limit, truncated_only=truncated_only)

    def list_alerts(self, status: str = "firing", limit: int | None = None) -> list[AlertState]:
        check_status(status)
        with self.db.read() as session:
            return list_states(session, status, limit)

    def groups(self) -> list[AlertGroup]:
        """Firing alerts grouped by group key: the incident candidates on the Triage screen,
        each with its impact where the ``impacts`` reader knows one."""
        with self.db.read() as session:
            return grouping.groups(session, self.impacts)
