"""The dedup rule under random notification sequences: the batch path (what the receiver and
files use) agrees with one-alert-at-a-time ingest and with a small reference model, and every
stored alert re-derives from its events."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentbook.core.alerts.formats.alertmanager import parse_alertmanager
from incidentbook.core.health.verify import run_verify
from incidentbook.services import make_services
from incidentbook.settings import Settings, read_config
from incidentbook.testing.clocks import FakeClock
from incidentbook.workspace import init_workspace
from tests.support.payloads import am_alert, am_payload

FINGERPRINTS = ("f0", "f1", "f2")
STARTS = ("2026-10-17T01:00:00Z", "2026-10-17T02:00:00Z", "2026-10-17T03:00:00Z")

alert_st = st.tuples(
    st.sampled_from(FINGERPRINTS), st.sampled_from(STARTS), st.sampled_from(("firing", "resolved"))
)
payloads_st = st.lists(st.lists(alert_st, min_size=1, max_size=4), min_size=1, max_size=8)


@dataclass
class Model:
    status: str
    start: str
    occurrences: int = 1
    episodes: int = 1


def reference(payloads: list[list[tuple[str, str, str]]]) -> dict[str, tuple[Any, ...]]:
    """DESIGN §5 + issue 4, written out plainly: episodes are (fingerprint, startsAt); copies of
    one episode inside one payload are one occurrence, the last copy's status in the first's
    place (issue 16)."""
    state: dict[str, Model] = {}
    collapsed = []
    for alerts in payloads:
        copies: dict[tuple[str, str], str] = {}
        for fp, start, status in alerts:
            copies[(fp, start)] = status
        collapsed.append([(fp, start, status) for (fp, start), status in copies.items()])
    for fp, start, status in itertools.chain.from_iterable(collapsed):
        current = state.get(fp)
        if current is None:
            state[fp] = Model(status, start)
        elif start < current.start:
            continue  # a copy of an older episode
        elif status == "firing" and start > current.start:
            current.status, current.start = "firing", start
            current.occurrences += 1
            current.episodes += 1
        elif status == "firing" and current.status == "firing":
            current.occurrences += 1
        elif status == "resolved" and current.status == "firing":
            current.status = "resolved"
    return {
        fp: (m.status, m.start.replace("Z", ".000000Z"), m.occurrences, m.episodes)
        for fp, m in state.items()
    }


def _payload(alerts: list[tuple[str, str, str]]) -> dict[str, Any]:
    return am_payload(
        *(
            am_alert(
                fp,
                startsAt=start,
                status=status,
                endsAt="2026-10-17T04:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            )
            for fp, start, status in alerts
        )
    )


_counter = itertools.count()


def _fresh(root: Path) -> Any:
    workspace = init_workspace(root / f"ws-{next(_counter)}").workspace
    return make_services(
        Settings(workspace=workspace, config=read_config(workspace), clock=FakeClock())
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payloads=payloads_st)
def test_batches_agree_with_single_alerts_and_the_model(
    tmp_path: Path, payloads: list[list[tuple[str, str, str]]]
) -> None:
    batched, single = _fresh(tmp_path), _fresh(tmp_path)
    try:
        ctx_b = batched.context(actor="webhook:alertmanager")
        ctx_s = single.context(actor="webhook:alertmanager")
        for alerts in payloads:
            parsed = parse_alertmanager(_payload(alerts))
            batched.alerts.ingest_alertmanager(ctx_b, parsed)
            with single.db.write() as session:
                for alert in parsed.alerts:
                    single.alerts.ingest_in(session, ctx_s, alert, episodes_by_start=True)

        def summary(services: Any) -> dict[str, tuple[Any, ...]]:
            return {
                a.fingerprint: (a.status, a.starts_at, a.occurrences, a.episodes)
                for a in services.alerts.list_alerts("all")
            }

        assert summary(batched) == summary(single) == reference(payloads)
        for services in (batched, single):
            results = run_verify(services.settings, services.db)
            assert all(r.ok for r in results), [r.problems for r in results if not r.ok]
    finally:
        batched.db.dispose()
        single.db.dispose()


def test_receiver_model_matches_its_migration(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from incidentbook.storage.alert_receiver_models import IngestRequestRow

    services = _fresh(tmp_path)
    inspector = inspect(services.db.engine)
    table = IngestRequestRow.__table__  # type: ignore[attr-defined]
    columns = {c["name"] for c in inspector.get_columns(table.name)}
    assert columns == {c.name for c in table.columns}
    services.db.dispose()
