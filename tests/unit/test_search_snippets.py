"""Search snippets are clean text: Markdown read as words (no pipes, # markers, ** marks,
backticks, HTML comments or front matter), money as its currency prints it, in the core's
hits and in the ``search`` CLI (text and --json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentbook.context import Context
from incidentbook.core import search as S
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.core.search.plain import markdown_to_plain
from incidentbook.services import Services
from incidentbook.settings import Settings
from tests.support.cli import Cli


@pytest.fixture(autouse=True)
def _fresh_searchers() -> None:
    S.close_searchers()


PM = """---
id: PM-0042
kind: postmortem
title: Ledger drift on acc-7
tags: [secret-frontmatter-word]
---
# Ledger drift

<!-- fill in: what happened, in one paragraph -->
## Impact

| Account | Delta |
|---|---|
| acc-7 | **1,234.56 EUR** |

Run `reconcile --full` then:

```
python fix.py
```

- [x] quarantined <!-- owner: ana -->
- [ ] _drift_ alarm
"""

# what the test expects a reader to see: words only, a table row's cells joined by " · "
PM_PLAIN = (
    "Ledger drift Impact Account · Delta acc-7 · 1,234.56 EUR Run reconcile --full then: "
    "python fix.py [x] quarantined [ ] drift alarm"
)

MARKUP = ("|", "#", "**", "`", "<!--", "-->", "---", "secret", "_drift_")


def write_pm(workspace: Path) -> None:
    path = workspace / "postmortems" / "PM-0042.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PM, encoding="utf-8")


def test_markdown_snippet_is_the_clean_text(
    settings: Settings, workspace: Path, services: Services
) -> None:
    write_pm(workspace)
    hits = S.search(settings, "drift kind:postmortem", db=services.db)
    assert [h.doc_id for h in hits] == ["PM-0042"]
    hit = hits[0]
    assert hit.snippet == PM_PLAIN
    for mark in MARKUP:
        assert mark not in hit.snippet
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["drift", "drift"]
    assert hit.marked("[", "]").count("[drift]") == 2


def test_markdown_to_plain_keeps_every_word_and_no_markup() -> None:
    assert markdown_to_plain(PM.split("---\n", 2)[2]).split() == PM_PLAIN.split()
    # entities decoded, links keep their label, images their alt text, HTML tags dropped
    source = "A &amp; B [the runbook](http://x/rb) ![chart](c.png) <b>bold</b>"
    assert markdown_to_plain(source) == "A & B the runbook chart bold"


def alert(name: str, account: str, currency: str, delta_minor: int) -> NativeAlert:
    return NativeAlert.from_dict(
        {
            "source": "reconciler",
            "name": name,
            "fingerprint": f"{name}/{account}",
            "status": "firing",
            "severity": "critical",
            "summary": f"{account} drifted overnight",
            "labels": {"check": name, "account_id": account, "currency": currency},
            "annotations": {"delta_minor": str(delta_minor)},
            "starts_at": "2026-10-17T02:14:00Z",
        }
    )


def seed_money(services: Services, ctx: Context) -> None:
    services.alerts.ingest(
        ctx,
        [
            alert("balance_mismatch", "acc-eur", "EUR", 123456),
            alert("orphan_entry", "acc-jpy", "JPY", -1234),
        ],
    )


# the snippets as the test expects them: the amounts in their currency's shape (EUR two
# decimals, JPY none, U+2212 for minus), never the stored minor units
EUR_SNIPPET = (
    "acc-eur drifted overnight delta: 1,234.56 EUR "
    "account_id=acc-eur check=balance_mismatch currency=EUR"
)
JPY_SNIPPET = (
    "acc-jpy drifted overnight delta: \u22121,234 JPY "
    "account_id=acc-jpy check=orphan_entry currency=JPY"
)


def test_alert_amounts_in_minor_units_show_formatted(
    settings: Settings, services: Services, ctx: Context
) -> None:
    seed_money(services, ctx)
    hits = S.search(settings, "drifted kind:alert_group", db=services.db)
    snippets = {h.doc_id: h.snippet for h in hits}
    assert snippets == {"balance_mismatch": EUR_SNIPPET, "orphan_entry": JPY_SNIPPET}
    for snippet in snippets.values():
        assert "123456" not in snippet and "1234 " not in snippet
    # the amount is searchable as it is shown
    found = S.search(settings, '"1,234.56 EUR"', db=services.db)
    assert [h.doc_id for h in found] == ["balance_mismatch"]


def test_cli_search_shows_clean_snippets_text_and_json(
    cli: Cli, workspace: Path, services: Services, ctx: Context
) -> None:
    write_pm(workspace)
    seed_money(services, ctx)
    out = cli.json("search", "drift*", "--limit", "20")
    snippets = {h["id"]: h["snippet"] for h in out["hits"]}
    assert snippets["PM-0042"] == PM_PLAIN
    assert snippets["balance_mismatch"] == EUR_SNIPPET
    assert snippets["orphan_entry"] == JPY_SNIPPET
    marked = {h["id"]: h["snippet_marked"] for h in out["hits"]}
    assert marked["orphan_entry"].startswith("acc-jpy **drifted** overnight")
    human = cli("search", "drift*", "--limit", "20", env={"NO_COLOR": "1"})
    assert human.exit_code == 0, human.output
    snippet_lines = [line for line in human.output.splitlines() if line.startswith("    ")]
    assert len(snippet_lines) == len(out["hits"])
    assert "    acc-eur **drifted** overnight delta: 1,234.56 EUR" in human.output
    assert "delta: \u22121,234 JPY" in human.output
    pm_line = next(line for line in snippet_lines if "quarantined" in line)
    assert pm_line.replace("**", "").strip() == PM_PLAIN
    for mark in ("|", "#", "`", "<!--"):
        assert mark not in pm_line
