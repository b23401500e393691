"""``incidentbook demo``: bring the search index up to date (idempotent)."""

from __future__ import annotations

from incidentbook.core.search.indexer import ensure_fresh, indexed_digests
from incidentbook.demo.model import DemoOptions, DemoReport
from incidentbook.services import Services


def demo_step(services: Services, _options: DemoOptions, report: DemoReport) -> None:
    ensure_fresh(services.settings, services.db)
    count = len(indexed_digests(services.settings))
    report.add(f"search index: {count} documents")
