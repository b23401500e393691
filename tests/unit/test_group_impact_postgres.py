"""A group's impact (DESIGN §4) with the ledger on a real PostgreSQL server: the ledger (repeated
postings in EUR, JPY and KWD, balances that took one copy or every copy, pure mismatches) is
written to PostgreSQL, reconciled with ``reconcile --ledger URL``, and ``alerts groups --json``
must carry the accounts, deltas per currency and first/last bad entry times computed here from
the rows written. The state database stays SQLite; only the ledger is PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from incidentbook.testing.synth import write_ledger
from incidentbook.workspace import init_workspace
from tests.support.cli import Cli
from tests.support.impact import CURRENCIES, assert_impacts, expected_impact, impact_ledger, moment


def _impact(group: dict[str, object]) -> dict[str, object]:
    return {k: group[k] for k in ("accounts", "delta_minor_by_currency", "firing")}


def test_groups_impact_from_a_postgres_ledger(cli: Cli, pg_url: str, tmp_path: Path) -> None:
    rows = impact_ledger(seed=29)
    expected = expected_impact(rows)
    dup = expected["duplicate_posting"]
    assert set(dup["delta_minor_by_currency"]) == set(CURRENCIES)  # JPY among them
    assert dup["accounts"] == 10
    write_ledger(pg_url, rows)

    result = cli("reconcile", "--ledger", pg_url)
    assert result.exit_code == 1, result.output  # findings
    groups = {g["key"]: g for g in cli.json("alerts", "groups")}
    assert set(groups) == set(expected) == {"duplicate_posting", "balance_mismatch"}
    assert_impacts(groups, expected)
    # accounts, not alerts: acc_00 has two repeated refs
    assert groups["duplicate_posting"]["firing"] == dup["accounts"] + 1

    # the same rows on SQLite, reconciled in another workspace: the same numbers
    other = Cli(init_workspace(tmp_path / "other").workspace)
    lite_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(lite_url, rows)
    assert other("reconcile", "--ledger", lite_url).exit_code == 1
    lite = {g["key"]: g for g in other.json("alerts", "groups")}
    assert {k: _impact(g) for k, g in lite.items()} == {k: _impact(g) for k, g in groups.items()}
    for key in expected:
        for field in ("first_bad_at", "last_bad_at"):
            assert moment(lite[key][field]) == moment(groups[key][field]), (key, field)
