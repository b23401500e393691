"""The demo's past incidents: opened, acknowledged, annotated and resolved at their historical
times, so Triage's "seen before" and the postmortems have a history to find."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from incidentbook.context import Context
from incidentbook.demo.model import DemoOptions, DemoReport
from incidentbook.services import Services

# (title, severity, days ago, hours to resolve, notes)
PAST_INCIDENTS: list[tuple[str, str, int, float, list[str]]] = [
    (
        "Webhook retries double-posted processor payments",
        "critical",
        400,
        6.0,
        [
            "Reconciler: 4,800 accounts whose stored balance disagrees with their entries.",
            "Retry path of the processor webhook handler posts without an idempotency check.",
            "Paused the webhook consumer; duplicates stop growing.",
            "Reversal entries posted for every duplicate; balances recomputed from history.",
        ],
    ),
    (
        "Nightly fee job ran twice after a deploy restart",
        "error",
        210,
        2.5,
        [
            "Fee entries doubled for 312 accounts on one business day.",
            "Job had no run key; the restart re-ran the whole day.",
            "Reversed the second run's entries; added a run checkpoint.",
        ],
    ),
    (
        "Clock skew on ledger writer host",
        "warning",
        95,
        1.0,
        [
            "recorded_at went backwards by 40 minutes on one writer.",
            "NTP daemon had stopped after a package upgrade; restarted and pinned.",
        ],
    ),
    (
        "Refunds posted in the wrong currency after FX config change",
        "error",
        60,
        3.0,
        [
            "currency_mismatch findings on 57 accounts, all refunds after 09:10.",
            "Config rollout swapped the refund currency source; rolled back.",
        ],
    ),
]


def past_incidents_step(services: Services, options: DemoOptions, report: DemoReport) -> None:
    rng = random.Random(options.seed)
    now = services.settings.clock()
    created = 0
    for index, (title, severity, days_ago, hours, notes) in enumerate(PAST_INCIDENTS):
        start = now - timedelta(days=days_ago, minutes=rng.randint(0, 600))
        moments = iter([start + timedelta(minutes=m) for m in range(0, 10_000, 7)])
        correlation = f"demo-{options.seed}-past-{index}"
        ctx = _demo_context(correlation, moments.__next__)
        outcome = services.incidents.open(
            ctx, title, severity, idempotency_key=f"demo:{options.seed}:past:{index}"
        )
        if not outcome.changed:
            continue
        created += 1
        incident_id = outcome.incident.id
        services.incidents.acknowledge(ctx.because("on call"), incident_id)
        for note in notes:
            services.incidents.add_note(ctx, incident_id, note)
        end = start + timedelta(hours=hours)
        resolve_ctx = _demo_context(correlation, _fixed(end)).because("fixed forward")
        services.incidents.resolve(resolve_ctx, incident_id)
    report.add(f"past incidents: {created} created, {len(PAST_INCIDENTS) - created} kept")


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _demo_context(correlation_id: str, clock: Callable[[], datetime]) -> Context:
    """Past incidents are recorded with their historical times, attributed to the demo."""
    return Context(actor="user:demo", correlation_id=correlation_id, clock=clock)
