"""The app tests' seeded workspace: past and open incidents, firing alerts (reconciler alerts
with their currency, delta and ledger-time window) and, for the impact tests, duplicate
postings on a few accounts; and the formulas the tests use as their independent truth."""

from __future__ import annotations

from pathlib import Path

from incidentbook.context import Context
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.services import Services

CURRENCIES = ("EUR", "JPY", "KWD")


def balance_delta(i: int) -> int:
    """Account i's stored − derived balance (minor units of its currency)."""
    return (i + 1) * 1_234_567 * (-1 if i % 2 else 1)


def bad_at(i: int) -> str:
    """When account i's latest entry was recorded (ledger time, UTC)."""
    return f"2026-10-17T01:{5 + i * 4:02d}:17.000000Z"


def duplicate_alerts() -> list[NativeAlert]:
    """Seven repeated postings on five accounts (acc-d0 and acc-d1 twice), EUR and JPY; copy
    j of finding i was recorded at ``dup_at(i, j)``."""
    out = []
    for i in range(7):
        account = f"acc-d{i % 5}"
        out.append(
            NativeAlert.from_dict(
                {
                    "source": "reconciler",
                    "name": "duplicate_posting",
                    "fingerprint": f"duplicate_posting/{account}/evt_{i}",
                    "status": "firing",
                    "severity": "critical",
                    "summary": f"{account}: evt_{i} posted twice",
                    "labels": {
                        "check": "duplicate_posting",
                        "account_id": account,
                        "currency": dup_currency(i),
                    },
                    "annotations": {
                        "delta_minor": str(dup_delta(i)),
                        "bad_from": dup_at(i, 0),
                        "bad_to": dup_at(i, 1),
                    },
                    "starts_at": "2026-10-17T02:14:00Z",
                }
            )
        )
    return out


def dup_currency(i: int) -> str:
    return "JPY" if i % 5 in (1, 3) else "EUR"


def dup_delta(i: int) -> int:
    return 4_999 + i * 1_000_001


def dup_at(i: int, copy: int) -> str:
    # from 23:40 on the 16th (01:40 in Berlin) to 07:47 on the 17th
    hour, minute = divmod(23 * 60 + 40 + i * 61 + copy * 7, 60)
    day = 16 + hour // 24
    return f"2026-10-{day}T{hour % 24:02d}:{minute:02d}:00.000000Z"


def seed_impact(services: Services) -> str:
    """``seed``, then the night's duplicate postings joined to its first incident: that
    incident is made from a reconciler group (returns its id)."""
    ctx = Context(actor="user:ana", correlation_id="seed", clock=services.settings.clock)
    services.alerts.ingest(ctx, duplicate_alerts())
    first = services.incidents.list_incidents()[0].id
    services.alerts.acknowledge_group(ctx, "duplicate_posting", incident_id=first)
    return first


def reconciler_alert(check: str, i: int, severity: str, what: str) -> NativeAlert:
    """The reconciler's alert for one account (``acc-0000i``) failing ``check``."""
    return NativeAlert.from_dict(
        {
            "source": "reconciler",
            "name": check,
            "fingerprint": f"{check}/acc-{i:05d}",
            "status": "firing",
            "severity": severity,
            "summary": f"acc-{i:05d}: {what}",
            "labels": {
                "check": check,
                "account_id": f"acc-{i:05d}",
                "currency": CURRENCIES[i % 3],
            },
            "annotations": {
                "delta_minor": str(balance_delta(i)),
                "bad_from": bad_at(i),
                "bad_to": bad_at(i),
            },
            "starts_at": "2026-10-17T02:14:00Z",
        }
    )


def seed(services: Services) -> None:
    """A 2 a.m. picture: a firing reconciler group, an open incident, an acknowledged one."""
    ctx = Context(actor="user:ana", correlation_id="seed", clock=services.settings.clock)
    alerts = [
        reconciler_alert("balance_mismatch", i, "critical", "stored balance != history")
        for i in range(12)
    ] + [
        NativeAlert.from_dict(
            {
                "source": "alertmanager",
                "name": "LedgerWriterLatencyHigh",
                "fingerprint": "am-1f2e",
                "status": "firing",
                "severity": "warning",
                "summary": "p99 write latency above 800ms",
                "starts_at": "2026-10-17T01:50:00Z",
            }
        )
    ]
    services.alerts.ingest(ctx, alerts)
    first = services.incidents.open(
        ctx, "Duplicate postings from processor webhooks", "critical"
    ).incident.id
    services.incidents.add_note(ctx, first, "Retry path posts without an idempotency check")
    second = services.incidents.open(ctx, "Fee job slow", "warning").incident.id
    services.incidents.acknowledge(ctx.because("watching"), second)


ZONE = "Europe/Berlin"  # the impact workspace's time zone


# The action items ``seed_postmortem`` writes: one overdue on the frozen clock's day
# (2026-10-17), one not.
OVERDUE_ITEM = "prevent: Idempotency key on the retry path (ana, 2026-10-01)"
LATER_ITEM = "process: Page the ledger team on duplicates (bo, 2026-12-01)"


def seed_postmortem(services: Services) -> Path:
    """The first incident's postmortem, with the two action items above."""
    incident = services.incidents.list_incidents()[0]
    path = services.postmortems.new(incident.id)
    text = path.read_text(encoding="utf-8")
    items = f"## Action items\n\n- [ ] {OVERDUE_ITEM}\n- [ ] {LATER_ITEM}\n"
    path.write_text(text.replace("## Action items\n", items), encoding="utf-8")
    return path


# ``seed_crowded``: the demo's night at 80 columns (issue 14's layouts). The truth the layout
# tests check the screens against: every group key, the long title and note as written.
CROWDED_CHECKS = (
    "duplicate_posting",
    "balance_mismatch",
    "currency_mismatch",
    "invalid_reversal",
    "orphan_entry",
    "clock_skew",
)
LONG_GROUP = "PaymentsProcessorWebhookRetriesExhausted"
CROWDED_GROUPS = (*CROWDED_CHECKS, LONG_GROUP, "latency_slo")
LONG_TITLE = (
    "Card authorisations declined for EU issuers after the 3-D Secure provider rotated its "
    "signing keys"
)
LONG_NOTE = (
    "Processor confirmed the webhook retry storm started at 09:02 UTC after the deploy of "
    "payments-gateway v2.14; rolling back now and pausing the retry queue [ops-4471]"
)


def seed_crowded(services: Services) -> str:
    """Eight firing groups (six reconciler checks, two from Alertmanager, one with a long
    name) and an open incident with a long title and a long note; returns its id."""
    ctx = Context(actor="user:ana", correlation_id="seed", clock=services.settings.clock)
    alerts = [
        reconciler_alert(check, i, "critical" if n < 2 else "error", check)
        for n, check in enumerate(CROWDED_CHECKS)
        for i in range(n + 1)
    ] + [
        NativeAlert.from_dict(
            {
                "source": "alertmanager",
                "name": name,
                "fingerprint": f"am-{name}",
                "status": "firing",
                "severity": "warning",
                "summary": f"{name} firing",
                "starts_at": "2026-10-17T01:50:00Z",
            }
        )
        for name in (LONG_GROUP, "latency_slo")
    ]
    services.alerts.ingest(ctx, alerts)
    incident = services.incidents.open(ctx, LONG_TITLE, "error").incident.id
    services.incidents.add_note(ctx, incident, LONG_NOTE)
    return incident
