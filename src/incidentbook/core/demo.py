"""``incidentbook demo``: a workspace an operator can explore at once.

The demo is a list of steps; each part of the product adds its own (past incidents here, the
ledger and reconciler, alerts, postmortems). Every step is idempotent: running the demo twice
leaves one of everything.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidentbook.core.context import Context
from incidentbook.core.services import Services


@dataclass(frozen=True)
class DemoOptions:
    accounts: int = 20_000
    days: int = 30
    seed: int = 7


@dataclass
class DemoReport:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


DemoStep = Callable[[Services, DemoOptions, DemoReport], None]

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


# Later parts append their steps (ledger + reconcile, alerts, postmortems) here, by name.
DEMO_STEPS: list[DemoStep | str] = [
    past_incidents_step,
    "incidentbook.core.ledger.demo_ledger:demo_step",
    "incidentbook.core.documents.demo:demo_step",
    "incidentbook.core.alert_demo:demo_step",
    # Last: index everything the steps above wrote (runbooks, postmortems, incidents, alerts).
    "incidentbook.core.search.indexer:demo_step",
]


def build_demo(services: Services, options: DemoOptions) -> DemoReport:
    import importlib

    report = DemoReport()
    for step in DEMO_STEPS:
        if isinstance(step, str):
            module_name, _, func_name = step.partition(":")
            step = getattr(importlib.import_module(module_name), func_name)
        assert callable(step)
        step(services, options, report)
    return report
