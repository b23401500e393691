"""The postmortem's impact carries the cross-check (DESIGN §4): of the accounts with a duplicate
posting, how many also failed balance_mismatch and how many stored balances took every copy;
counted independently here from the ledger rows written."""

from __future__ import annotations

from pathlib import Path

from incidentbook.core.documents.facts import collect
from incidentbook.services import Services
from incidentbook.testing.synth import write_ledger
from tests.support.cli import Cli
from tests.support.impact import duplicates_failing_balance, impact_ledger, reconcile


def duplicate_accounts(rows_entries: list[tuple[object, ...]]) -> int:
    seen: dict[tuple[object, ...], int] = {}
    for e in rows_entries:
        key = (e[1], e[7], e[4], e[2])  # account, external ref, kind, amount
        seen[key] = seen.get(key, 0) + 1
    return len({key[0] for key, n in seen.items() if n >= 2})


def test_the_postmortem_says_how_many_duplicates_the_stored_balance_took(
    cli: Cli, services: Services, tmp_path: Path
) -> None:
    rows = impact_ledger()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    write_ledger(url, rows)
    reconcile(services, url)
    incident = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]

    dups = duplicate_accounts(rows.entries)
    failing = duplicates_failing_balance(rows)
    assert 0 < failing < dups  # the ledger has both kinds
    with services.db.read() as session:
        facts = collect(session, incident)
    assert (facts.duplicate_accounts, facts.duplicates_failing_balance) == (dups, failing)

    path = Path(cli.json("postmortem", "new", incident)["path"])
    text = path.read_text(encoding="utf-8")
    assert (
        f"- Cross-check: of {dups:,} accounts with a duplicate posting, {failing:,} also failed"
        f" balance_mismatch (the stored balance did not take the copies); {dups - failing:,}"
        " stored balances took every copy (no balance alert fired, yet the customer was charged"
        " twice)."
    ) in text


def test_no_cross_check_line_without_duplicates(cli: Cli, services: Services) -> None:
    incident = cli.json("incident", "open", "--title", "Disk full")["incident"]["id"]
    path = Path(cli.json("postmortem", "new", incident)["path"])
    assert "Cross-check" not in path.read_text(encoding="utf-8")
