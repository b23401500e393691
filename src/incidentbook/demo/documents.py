"""The documents part of ``incidentbook demo``.

Copies the shipped example postmortem and pre-mortem into the workspace's ``postmortems/``
(when absent), links the example postmortem to the demo's past webhook double-posting incident,
writes a postmortem for one more past incident, and records every document and action item.
Idempotent: a second run changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from incidentbook.core.documents.postmortem import find_postmortem, postmortem_id
from incidentbook.frontmatter import join, split
from incidentbook.fs import atomic_write
from incidentbook.resources import shipped_dir

if TYPE_CHECKING:
    from incidentbook.demo.model import DemoOptions, DemoReport
    from incidentbook.services import Services

WEBHOOK_TITLE = "Webhook retries double-posted processor payments"
SECOND_TITLE = "Nightly fee job ran twice after a deploy restart"


def _incident_by_title(services: Services, title: str) -> str | None:
    matches = [
        i for i in services.incidents.list_incidents(include_resolved=True) if i.title == title
    ]
    return min(matches, key=lambda i: i.number).id if matches else None


def demo_step(services: Services, options: DemoOptions, report: DemoReport) -> None:
    settings = services.settings
    folder = settings.postmortems_dir
    folder.mkdir(parents=True, exist_ok=True)
    shipped = shipped_dir("postmortems")
    ctx = services.context("demo documents", correlation_id=f"demo-{options.seed}-documents")
    webhook_id = _incident_by_title(services, WEBHOOK_TITLE)
    copied = 0
    if shipped.is_dir():
        for source in sorted(shipped.glob("*.md")):
            target = folder / source.name
            if target.exists():
                continue
            doc = split(source.read_text(encoding="utf-8"), source=str(source))
            if doc.kind == "postmortem" and webhook_id:
                doc.meta["incident"] = webhook_id
                doc.meta["id"] = postmortem_id(webhook_id)
            atomic_write(target, join(doc.meta, doc.body))
            copied += 1
    # When the workspace is the repository itself, the shipped file is the workspace copy:
    # it is linked by its front matter (INC-0001, the demo's first past incident).
    if webhook_id:
        _link_copy(folder, shipped, webhook_id)

    written = 0
    second = _incident_by_title(services, SECOND_TITLE)
    if second and find_postmortem(settings, second) is None:
        path = services.postmortems.create(second, ctx=ctx).path
        today = settings.clock().date()
        _fill_fee_job_postmortem(path, today)
        written += 1
    reports = services.documents.sync_all(ctx)
    report.add(
        f"postmortems: {copied} example(s) copied, {written} written, "
        f"{len(reports)} document(s) tracked"
    )


def _link_copy(folder: Path, shipped: Path, incident_id: str) -> None:
    """Point the copied webhook postmortem at the workspace's own incident id."""
    if folder.resolve() == shipped.resolve():
        return
    for path in sorted(folder.glob("*.md")):
        if not (shipped / path.name).exists():
            continue
        doc = split(path.read_text(encoding="utf-8"), source=str(path))
        if (
            doc.kind == "postmortem"
            and doc.meta.get("incident") != incident_id
            and str(doc.meta.get("title", "")).endswith(WEBHOOK_TITLE)
        ):
            doc.meta["incident"] = incident_id
            doc.meta["id"] = postmortem_id(incident_id)
            atomic_write(path, join(doc.meta, doc.body))


# Hand-written parts of the demo's second postmortem (the fee job that ran twice). Two action
# items are due relative to today, one of them already overdue, so `actions list --overdue`
# and the Health view have something to show.
FEE_JOB_SECTIONS = {
    "## Response\n": "The on-call acknowledged within minutes and paused the nightly jobs.\n",
    "## Recovery\n": (
        "The second run's fee entries were reversed one by one, each reversal carrying the\n"
        "incident's correlation id; the reconciler confirmed every balance afterwards.\n"
    ),
    "### Trigger\n": "A deploy restarted the job runner while the nightly fee job was running.\n",
    "### Five whys\n": (
        "1. Why were fees doubled? The fee job ran twice for the same business day.\n"
        "2. Why twice? The restarted runner started the day's job again from the beginning.\n"
        "3. Why from the beginning? The job had no run key and no per-account checkpoint.\n"
    ),
    "### Contributing factors\n": "- Deploys were not held back while nightly jobs ran.\n",
    "## What went well\n": "- The audit trail showed exactly which entries the second run wrote.\n",
    "## What went poorly\n": "- Nothing alerted on a job running twice for the same day.\n",
    "## Where we got lucky\n": "- The double fees were reversed before any statement was sent.\n",
    "## Lessons\n": "- Every job that moves money needs a run key and a checkpoint.\n",
}


def _fill_fee_job_postmortem(path: Path, today: date) -> None:
    text = path.read_text(encoding="utf-8")
    for heading, body in FEE_JOB_SECTIONS.items():
        text = text.replace(heading, f"{heading}\n{body}", 1)
    done, late, ahead = (today + timedelta(days=d) for d in (-60, -10, 20))
    items = (
        f"- [x] prevent: Give the fee job a run key per business day (ana, {done})\n"
        f"- [ ] prevent: Checkpoint the fee job per account (ravi, {late})\n"
        f"- [ ] process: Hold deploys while nightly jobs run (mikkel, {ahead})\n"
    )
    text = text.replace("## Action items\n", f"## Action items\n\n{items}", 1)
    atomic_write(path, text)
