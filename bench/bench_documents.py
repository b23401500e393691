"""Postmortems: prefilling from a big incident, linting a long document, syncing action items.

1. ``postmortem new`` for an incident joined by N reconciler alerts (default 5,000 accounts):
   facts, impact per currency, timeline, search for related items, template, atomic write and
   events. Reference in the same run: reading the same N alert rows with plain ``sqlite3`` and
   decoding their labels (the least work any prefill must do).
2. ``postmortem lint`` of a document of L lines (default 5,000). Reference: one compiled
   regular expression scanning the same text once.
3. Action items: first sync of a document with A items (default 500), then a re-sync with no
   change (must record nothing). Reference: parsing the items alone.

Options: ``--quick`` (smaller), ``--alerts N``, ``--lines N``, ``--items N``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import save_result


def _option(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bench_prefill(workdir: Path, alerts: int) -> dict[str, Any]:
    from incidentbook.core.alerts.model import NativeAlert
    from incidentbook.services import make_services
    from incidentbook.settings import load_settings
    from incidentbook.workspace import init_workspace

    workspace = init_workspace(workdir / "ws").workspace
    services = make_services(load_settings(workspace))
    ctx = services.context("bench")
    batch = [
        NativeAlert.from_dict(
            {
                "source": "reconciler",
                "name": "balance_mismatch",
                "fingerprint": f"balance_mismatch/acc-{i:07d}",
                "status": "firing",
                "severity": "critical",
                "summary": f"acc-{i:07d}: stored balance != history",
                "labels": {
                    "check": "balance_mismatch",
                    "account_id": f"acc-{i:07d}",
                    "currency": "EUR" if i % 3 else "USD",
                },
                "annotations": {"delta_minor": str(-(i % 9000) - 1)},
                "starts_at": "2026-10-17T02:14:00Z",
            }
        )
        for i in range(alerts)
    ]
    services.alerts.ingest(ctx, batch)
    incident_id = services.alerts.acknowledge_group(ctx, "balance_mismatch").incident.id
    services.incidents.resolve(ctx, incident_id)

    def reference() -> int:
        conn = sqlite3.connect(services.settings.db_path)
        rows = conn.execute(
            "SELECT labels, annotations FROM alerts WHERE incident_id = ?", (incident_id,)
        ).fetchall()
        total = 0
        for labels, notes in rows:
            json.loads(labels)
            total += int(json.loads(notes).get("delta_minor", 0))
        conn.close()
        return len(rows)

    ref_s, count = _timed(reference)
    ours_s, result = _timed(lambda: services.postmortems.create(incident_id, ctx=ctx))
    text = result.path.read_text(encoding="utf-8")
    assert f"Accounts affected: {alerts:,}" in text, "impact not prefilled"
    services.db.dispose()
    return {
        "alerts": count,
        "postmortem_new_s": round(ours_s, 3),
        "reference_s": round(ref_s, 4),
        "ratio": round(ours_s / ref_s, 1),
    }


def bench_lint(lines: int) -> dict[str, Any]:
    from incidentbook.core.documents.lint import lint_text

    paragraphs = [
        "The webhook consumer failed to deduplicate a retried delivery.",
        "The reconciler found 4,812 mismatched accounts at 02:14.",
        "The deploy at 14:05 removed the check; nothing in the pipeline flagged it.",
        "We should have paged sooner.",
    ]
    body = "\n".join(paragraphs[i % len(paragraphs)] for i in range(lines))
    text = f"---\nid: PM-1\nkind: postmortem\nauthors: [ana]\n---\n# T\n\n## Summary\n\n{body}\n"
    pattern = re.compile(r"\bshould have\b", re.IGNORECASE)
    ref_s, _ = _timed(lambda: sum(1 for _ in pattern.finditer(text)))
    ours_s, findings = _timed(lambda: lint_text(text))
    assert sum(1 for f in findings if f.rule == "hindsight") == lines // 4
    return {
        "lines": lines,
        "lint_s": round(ours_s, 4),
        "reference_s": round(ref_s, 5),
        "ratio": round(ours_s / ref_s, 1),
    }


def bench_actions(workdir: Path, items: int) -> dict[str, Any]:
    from incidentbook.core.documents import actions as act
    from incidentbook.frontmatter import split
    from incidentbook.services import make_services
    from incidentbook.settings import load_settings
    from incidentbook.workspace import init_workspace

    workspace = init_workspace(workdir / "ws-actions").workspace
    services = make_services(load_settings(workspace))
    lines = [
        f"- [{'x' if i % 4 == 0 else ' '}] prevent: Item number {i} about retries (ana, 2026-12-01)"
        for i in range(items)
    ]
    text = "---\nid: PM-9\nkind: postmortem\n---\n# T\n\n## Action items\n\n" + "\n".join(lines)
    path = workspace / "postmortems" / "PM-9.md"
    path.write_text(text, encoding="utf-8")
    doc = split(text)
    ref_s, parsed = _timed(lambda: act.parse_items(doc.body, doc.body_offset))
    ctx = services.context("bench")
    first_s, report = _timed(lambda: services.documents.sync_file(ctx, path))
    again_s, again = _timed(lambda: services.documents.sync_file(ctx, path))
    assert len(parsed) == items and report is not None and again is not None
    assert not again.changed
    services.db.dispose()
    return {
        "items": items,
        "first_sync_s": round(first_s, 3),
        "resync_s": round(again_s, 3),
        "reference_parse_s": round(ref_s, 4),
        "resync_ratio": round(again_s / ref_s, 1),
    }


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    alerts = _option(argv, "alerts", 500 if quick else 5_000)
    lines = _option(argv, "lines", 500 if quick else 5_000)
    items = _option(argv, "items", 50 if quick else 500)
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "prefill": bench_prefill(Path(tmp), alerts),
            "lint": bench_lint(lines),
            "actions": bench_actions(Path(tmp), items),
        }
    for name, values in results.items():
        print(f"{name:<8} " + "  ".join(f"{k}={v}" for k, v in values.items()))
    save_result("documents", results)
