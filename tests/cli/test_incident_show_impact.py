"""``incident show ID [--json]`` carries the impact of the incident's reconciler groups (DESIGN
§4): accounts, deltas per currency, the ledger-time window, and for a duplicate_posting group
how many of its accounts also fail balance_mismatch. After a real reconcile of a real SQLite
ledger; every expected number is computed here from the rows written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from incidentbook.services import Services
from incidentbook.testing.synth import LedgerRows, write_ledger
from tests.support.cli import Cli
from tests.support.impact import (
    ZONE,
    check_group,
    duplicates_failing_balance,
    expected_impact,
    impact_ledger,
    money,
    reconcile,
)


@pytest.fixture
def reconciled(services: Services, tmp_path: Path) -> tuple[LedgerRows, str]:
    rows = impact_ledger()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows)
    reconcile(services, url)
    return rows, url


def test_show_json_carries_the_impact_of_each_group_of_the_incident(
    cli: Cli, reconciled: tuple[LedgerRows, str]
) -> None:
    rows, url = reconciled
    expected = expected_impact(rows)
    failing = duplicates_failing_balance(rows)
    assert 0 < failing < expected["duplicate_posting"]["accounts"]  # the test needs both kinds

    dup_inc = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    shown = cli.json("incident", "show", dup_inc)
    assert shown["impact"]["incident_id"] == dup_inc
    (group,) = shown["impact"]["groups"]
    assert group["key"] == "duplicate_posting"
    check_group(group, expected["duplicate_posting"])
    assert group["duplicate_accounts_failing_balance"] == failing
    # the same count as `incident accounts` finds from the ledger's balances
    accounts = cli.json("incident", "accounts", dup_inc, "--ledger", url)
    assert accounts["summary"]["duplicate_accounts_failing_balance"] == failing
    assert {"incident", "timeline"} <= set(shown)

    # the balance group joins the same incident: two groups, each its own impact
    cli.json("alerts", "ack-group", "balance_mismatch", "--incident", dup_inc)
    groups = {g["key"]: g for g in cli.json("incident", "show", dup_inc)["impact"]["groups"]}
    assert set(groups) == {"duplicate_posting", "balance_mismatch"}
    for key, want in expected.items():
        check_group(groups[key], want)
    assert groups["balance_mismatch"]["duplicate_accounts_failing_balance"] is None
    assert groups["duplicate_posting"]["duplicate_accounts_failing_balance"] == failing


def test_show_text_has_the_groups_line_of_alerts_groups(
    cli: Cli, reconciled: tuple[LedgerRows, str]
) -> None:
    config = cli.workspace / "incidentbook.toml"
    config.write_text(config.read_text().replace('timezone = "UTC"', f'timezone = "{ZONE}"'))
    rows, _url = reconciled
    want = expected_impact(rows)["duplicate_posting"]
    incident = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    zone = ZoneInfo(ZONE)
    first: datetime = want["first_bad_at"].astimezone(zone)
    last: datetime = want["last_bad_at"].astimezone(zone)
    deltas = " · ".join(money(v, c) for c, v in sorted(want["delta_minor_by_currency"].items()))
    line = (
        f"duplicate_posting  {want['accounts']} accounts  Δ {deltas}  "
        f"bad entries {first:%H:%M}–{last:%H:%M} (ledger time)"
    )
    groups_out = cli("alerts", "groups")
    assert f"{line}  → {incident}" in groups_out.stdout.splitlines()

    result = cli("incident", "show", incident)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index("impact:")
    assert lines[at + 1] == f"  {line}"
    assert lines[at + 2] == (
        f"    {duplicates_failing_balance(rows)} of its {want['accounts']} accounts "
        "also fail balance_mismatch"
    )
    assert lines.index("timeline:") > at + 2


def test_an_incident_without_reconciler_alerts_shows_no_impact(cli: Cli) -> None:
    incident = cli.json("incident", "open", "--title", "disk full")["incident"]["id"]
    shown = cli.json("incident", "show", incident)
    assert shown["impact"] == {"incident_id": incident, "groups": []}
    result = cli("incident", "show", incident)
    assert result.exit_code == 0 and "impact:" not in result.stdout
