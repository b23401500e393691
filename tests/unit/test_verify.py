"""``verify`` re-derives state from events and catches any tampering with projections."""

from __future__ import annotations

import sqlite3

from incidentbook.context import Context
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.core.health.verify import CHECKS, run_verify
from incidentbook.services import Services


def _problems(services: Services) -> list[str]:
    return [p for r in run_verify(services.settings, services.db) for p in r.problems]


def _seed(services: Services, ctx: Context) -> str:
    iid = services.incidents.open(ctx, "Balances disagree", "critical").incident.id
    services.incidents.acknowledge(ctx, iid)
    services.incidents.add_note(ctx, iid, "looking")
    services.alerts.ingest(
        ctx,
        [
            NativeAlert.from_dict(
                {
                    "source": "test",
                    "name": "balance_mismatch",
                    "fingerprint": "balance_mismatch/a1",
                    "status": "firing",
                    "severity": "critical",
                    "starts_at": "2026-10-17T02:14:00Z",
                }
            )
        ],
    )
    return iid


def _raw(services: Services, sql: str) -> None:
    conn = sqlite3.connect(services.db.path)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_clean_state_verifies(services: Services, ctx: Context) -> None:
    _seed(services, ctx)
    results = run_verify(services.settings, services.db)
    assert all(r.ok for r in results), [r.problems for r in results]
    assert {r.name for r in results} >= {
        "events_append_only",
        "incidents_projection",
        "alerts_projection",
    }


def test_tampered_incident_row_is_caught(services: Services, ctx: Context) -> None:
    iid = _seed(services, ctx)
    _raw(services, f"UPDATE incidents SET status='resolved' WHERE id='{iid}'")
    assert _problems(services) == [
        f"incident {iid}: status is 'resolved', events say 'acknowledged'"
    ]


def test_deleted_and_invented_rows_are_caught(services: Services, ctx: Context) -> None:
    iid = _seed(services, ctx)
    _raw(services, f"DELETE FROM incidents WHERE id='{iid}'")
    _raw(
        services,
        "INSERT INTO incidents (id, number, title, severity, status, source, "
        "opened_at, opened_by, updated_at, last_seq) VALUES ('INC-0099', 99, 'ghost', "
        "'info', 'open', 'manual', 'x', 'x', 'x', 0)",
    )
    problems = _problems(services)
    assert f"incident {iid}: events exist but the stored row is missing" in problems
    assert "incident INC-0099: stored row has no events" in problems


def test_tampered_alert_row_is_caught(services: Services, ctx: Context) -> None:
    _seed(services, ctx)
    _raw(services, "UPDATE alerts SET occurrences = 7")
    assert any("alert balance_mismatch/a1: occurrences is 7" in p for p in _problems(services))


def test_dropped_trigger_is_caught(services: Services, ctx: Context) -> None:
    _seed(services, ctx)
    _raw(services, "DROP TRIGGER events_no_delete")
    assert "trigger events_no_delete is missing: events are not protected" in _problems(services)


def test_verify_cli_exit_codes(cli, services: Services, ctx: Context) -> None:  # type: ignore[no-untyped-def]
    iid = _seed(services, ctx)
    ok = cli("verify", "--json")
    assert ok.exit_code == 0, ok.output
    _raw(services, f"UPDATE incidents SET severity='info' WHERE id='{iid}'")
    bad = cli("verify")
    assert bad.exit_code == 1
    assert f"incident {iid}: severity is 'info', events say 'critical'" in bad.stdout


def test_every_check_is_a_named_callable() -> None:
    """CHECKS lists the functions themselves (mypy and grep follow them), each once."""
    assert len(CHECKS) >= 7
    names = []
    for check in CHECKS:
        assert callable(check)
        name = getattr(check, "__name__", "")
        assert name and name != "<lambda>", check
        names.append(f"{check.__module__}.{name}")
    assert len(set(names)) == len(names), names


def test_no_feature_imports_health() -> None:
    """Health imports every feature to list its checks; a feature importing health (even
    inside a function) would make a cycle, so none does."""
    import ast
    from pathlib import Path

    import incidentbook.core

    core = Path(incidentbook.core.__file__).parent
    offenders = []
    for path in core.rglob("*.py"):
        if path.relative_to(core).parts[0] == "health":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if any(n.startswith("incidentbook.core.health") for n in names):
                offenders.append(str(path.relative_to(core)))
    assert offenders == []
