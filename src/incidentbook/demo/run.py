"""``incidentbook demo``: a workspace an operator can explore at once.

The demo is a list of steps; each part of the product adds its own (past incidents, the ledger
and reconciler, postmortems, alerts, then the search index). Every step is idempotent: running
the demo twice leaves one of everything.
"""

from __future__ import annotations

from incidentbook.demo import alerts, documents, ledger, past_incidents, search
from incidentbook.demo.model import DemoOptions, DemoReport, DemoStep
from incidentbook.services import Services

DEMO_STEPS: list[DemoStep] = [
    past_incidents.past_incidents_step,
    ledger.demo_step,
    documents.demo_step,
    alerts.demo_step,
    # Last: index everything the steps above wrote (runbooks, postmortems, incidents, alerts).
    search.demo_step,
]


def build_demo(services: Services, options: DemoOptions) -> DemoReport:
    report = DemoReport()
    for step in DEMO_STEPS:
        step(services, options, report)
    return report
