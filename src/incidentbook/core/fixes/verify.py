"""``verify``'s fix-forward check: every stored plan's bytes still hash to its sha256 and its
``incident.fix_planned`` event names that hash; every checkpointed batch has exactly one
``incident.correction_applied`` event, and no event claims a batch without a checkpoint."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

from sqlalchemy import text

from incidentbook.core.events.projection import CheckResult
from incidentbook.core.incidents.model import CORRECTION_APPLIED, FIX_PLANNED
from incidentbook.digest import sha256_hex

if TYPE_CHECKING:
    from incidentbook.settings import Settings
    from incidentbook.storage.db import Database


def check_fix_plans(_settings: Settings, db: Database) -> CheckResult:
    result = CheckResult("fix_plans")
    with db.read() as session:
        plans = session.execute(text("SELECT plan_id, sha256, body FROM fix_plans")).all()
        batches = Counter(
            (str(p), int(n))
            for p, n in session.execute(text("SELECT plan_id, batch_no FROM fix_batches"))
        )
        events = session.execute(
            text("SELECT type, data FROM events WHERE type IN (:a, :b)"),
            {"a": FIX_PLANNED, "b": CORRECTION_APPLIED},
        ).all()
    planned: dict[str, str] = {}
    applied: Counter[tuple[str, int]] = Counter()
    for type_, data in events:
        try:
            payload = json.loads(data)
        except ValueError:
            result.problems.append(f"a {type_} event's data is not JSON")
            continue
        if type_ == FIX_PLANNED:
            planned[str(payload.get("plan_id"))] = str(payload.get("sha256"))
        else:
            applied[(str(payload.get("plan_id")), int(payload.get("batch", -1)))] += 1
    for plan_id, sha, body in plans:
        result.checked += 1
        if sha256_hex(str(body)) != sha:
            result.problems.append(f"{plan_id}: its content no longer matches its sha256")
        if planned.get(str(plan_id)) != sha:
            result.problems.append(f"{plan_id}: no incident.fix_planned event with its sha256")
    for key in sorted(set(batches) | set(applied)):
        result.checked += 1
        if applied[key] != 1 or batches[key] != 1:
            result.problems.append(
                f"{key[0]} batch {key[1] + 1}: {batches[key]} checkpoints,"
                f" {applied[key]} correction events (expected one of each)"
            )
    return result
