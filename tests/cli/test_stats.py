"""``incidentbook stats`` (issue 14): the Health figures as JSON and as text, against the
truth of the ledger story's rows (tests.support.health)."""

from __future__ import annotations

from incidentbook.core.ledger.checks import CHECKS
from incidentbook.money import format_minor
from incidentbook.services import Services
from tests.support.accounts import findings_from_rows
from tests.support.cli import Cli
from tests.support.health import ACTIONS, Story, first_state, second_state, tell_story


def _prepare(services: Services) -> Story:
    story = tell_story(services)
    # the CLI runs on the real clock: one due date long past, one far ahead
    body = ACTIONS.replace("2026-10-01", "2001-01-01").replace("2026-12-15", "2999-12-15")
    body = body.replace("2026-09-15", "2999-09-15")
    path = services.settings.workspace / "postmortems" / "pm-0009.md"
    path.write_text(body, encoding="utf-8")
    services.documents.sync_file(services.context("x"), path)
    return story


def test_stats_json_carries_the_health_figures(services: Services, cli: Cli) -> None:
    story = _prepare(services)
    data = cli.json("stats")
    reconciler = data["reconciler"]
    runs = reconciler["full_runs"]
    assert [r["run_id"] for r in runs] == story.full_run_ids
    for run, truth in zip(runs, story.full_truths, strict=True):
        for check in CHECKS:
            accounts, money = truth.get(check, (0, {}))
            assert run["discrepancies"][check] == {"accounts": accounts, "money": money}
    lag = reconciler["lag"]
    assert (lag["lag_seconds"], lag["entries_behind"], lag["error"]) == (900.0, 3, None)
    truth = findings_from_rows(second_state(first_state()))
    findings = sum(t["balance"] is not None for t in truth.values()) + sum(
        len(t["dups"]) for t in truth.values()
    )
    assert data["alerts_open_by_severity"] == {"critical": findings, "error": 0, "warning": 0,
                                               "info": 0}  # fmt: skip
    assert reconciler["last_found"]["balance_mismatch"] == sum(
        t["balance"] is not None for t in truth.values()
    )
    assert [(a["text"], a["due"]) for a in data["overdue_action_items"]] == [
        ("Add a run key to the fee job", "2001-01-01")
    ]
    assert data["action_items"]["overdue"] == 1
    # the counters are still there, as before
    assert data["events_total"] > 0 and data["schema_revision"]


def test_stats_prints_them(services: Services, cli: Cli) -> None:
    story = _prepare(services)
    result = cli("stats")
    assert result.exit_code == 0, result.output
    out = result.stdout
    accounts, money = story.full_truths[-1]["balance_mismatch"]
    assert f"balance_mismatch {accounts} accounts" in out
    for currency, amount in money.items():
        assert format_minor(amount, currency) in out
    assert sum("balance_mismatch" in line for line in out.splitlines()) == 2  # a line a full run
    assert "15m of ledger time, 3 entries behind" in out
    assert "overdue PM-0009:A1" in out and "Add a run key to the fee job" in out
    assert "Open alerts        critical" in out


def test_stats_without_the_ledger(services: Services, cli: Cli) -> None:
    _prepare(services)
    data = cli.json("stats", "--no-lag")
    assert data["reconciler"]["lag"] is None and len(data["reconciler"]["full_runs"]) == 2
