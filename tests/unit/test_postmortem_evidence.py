"""The postmortem cites the evidence (set hash, account count) and shows per currency the stored
balances at detection against the ledger's now ("unknown" when it cannot be read); every
figure is computed here from the ledger rows written and the correction made."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import write_ledger
from tests.support.accounts import accounts_ledger, findings_from_rows
from tests.support.cli import Cli
from tests.support.evidence import expected_set, stored_by_currency

DECIMALS = {"EUR": 2, "JPY": 0}  # ISO 4217, written out here on purpose


def money(amount: int, currency: str) -> str:  # the documents' ASCII minus
    places = DECIMALS[currency]
    whole, frac = divmod(abs(amount), 10**places)
    body = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    return f"{'-' if amount < 0 else ''}{body} {currency}"


def table(text: str) -> dict[str, tuple[str, str, str]]:
    head = "| Currency | Accounts | Stored at detection | Stored now |"
    lines = text.splitlines()
    start = lines.index(head) + 2
    out = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cur, accounts, before, after = (c.strip() for c in line.strip("|").split("|"))
        out[cur] = (accounts, before, after)
    return out


def test_postmortem_before_and_after_per_currency(
    cli: Cli, services: Services, tmp_path: Path
) -> None:
    rows = accounts_ledger()
    url = services.settings.ledger_url  # the configured ledger: the postmortem reads it now
    ledger_path = Path(url.removeprefix("sqlite:///"))
    write_ledger(url, rows)
    ctx = services.context("test", actor="reconciler")
    services.reconciler.run(ctx, ReconcileOptions(mode="full", batch=4))
    inc = cli.json("alerts", "ack-group", "duplicate_posting")["incident"]["id"]
    truth = findings_from_rows(rows)
    accounts = sorted(a for a, t in truth.items() if t["dups"])
    before = stored_by_currency(rows, accounts)
    # a correction: each affected account's stored balance takes one copy of each duplicate
    after: dict[str, int] = {}
    conn = sqlite3.connect(ledger_path)
    for account in accounts:
        t = truth[account]
        fixed = t["derived"] - sum(d["delta"] for d in t["dups"])
        conn.execute("UPDATE ledger_accounts SET balance_minor = ? WHERE account_id = ?",
                     (fixed, account))  # fmt: skip
        after[t["currency"]] = after.get(t["currency"], 0) + fixed
    conn.commit()
    conn.close()
    assert after != before

    path = Path(cli.json("postmortem", "new", inc)["path"])
    text = path.read_text(encoding="utf-8")
    digest = expected_set(rows, accounts)
    assert re.search(
        rf"^- Evidence frozen at detection: {len(accounts)} accounts at \S+ \S+, set sha256"
        rf" `{digest}` \(`incidentbook incident evidence {inc}`\)$",
        text,
        re.M,
    )
    count = {c: sum(1 for a in accounts if truth[a]["currency"] == c) for c in before}
    assert table(text) == {
        c: (str(count[c]), money(before[c], c), money(after[c], c)) for c in before
    }

    # the ledger gone: "now" is unknown, detection still known
    ledger_path.rename(tmp_path / "elsewhere.sqlite")
    cli.json("postmortem", "new", inc, "--refresh")
    text = path.read_text(encoding="utf-8")
    assert table(text) == {c: (str(count[c]), money(before[c], c), "unknown") for c in before}
    assert "- Stored now unknown: ledger database not found" in text
