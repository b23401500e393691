"""The Health tests' ledger story: the accounts ledger (``tests.support.accounts``) reconciled
in full, changed (one mismatch fixed, one made, entries added), reconciled incrementally and in
full again, then written to after the last run; and the truth of each state computed in plain
Python from its rows (accounts and money per currency per check, the watermark's lag)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.services import Services
from incidentbook.testing.synth import EntryRow, LedgerRows, write_ledger
from tests.support.accounts import accounts_ledger as first_state
from tests.support.accounts import findings_from_rows

Truth = dict[str, tuple[int, dict[str, int]]]  # check -> (accounts, money per currency)


def truth_of(rows: LedgerRows) -> Truth:
    """Per check with findings: the accounts and the sum of |delta| per currency, from the
    rows (balance_mismatch: stored − derived; duplicate_posting: (copies − 1) × amount)."""
    out: dict[str, tuple[set[str], dict[str, int]]] = {}
    for account, t in findings_from_rows(rows).items():
        deltas = [("duplicate_posting", d["delta"]) for d in t["dups"]]
        if t["balance"] is not None:
            deltas.append(("balance_mismatch", t["balance"]["delta"]))
        for check, delta in deltas:
            accounts, money = out.setdefault(check, (set(), {}))
            accounts.add(account)
            money[t["currency"]] = money.get(t["currency"], 0) + abs(delta)
    return {check: (len(accounts), money) for check, (accounts, money) in out.items()}


def _entry(entry_id: int, account: str, amount: int, currency: str, at: datetime) -> EntryRow:
    return (entry_id, account, amount, currency, "payment", at, at, f"late_{entry_id}",
            f"idem_late_{entry_id}", "webhook:processor", None, f"corr_{entry_id}",
            None)  # fmt: skip


def last_recorded(rows: LedgerRows) -> datetime:
    return max(e[6] for e in rows.entries)


def with_entries(rows: LedgerRows, account: str, amounts: list[int], step: timedelta) -> LedgerRows:
    """``rows`` plus entries on ``account`` (its stored balance follows them), recorded
    ``step`` apart after the last one."""
    entries = list(rows.entries)
    at = last_recorded(rows)
    currency = next(a[1] for a in rows.accounts if a[0] == account)
    for amount in amounts:
        at += step
        entries.append(_entry(len(entries) + 1, account, amount, currency, at))
    accounts = [
        (a, c, b + sum(amounts), at, o) if a == account else (a, c, b, u, o)
        for a, c, b, u, o in rows.accounts
    ]
    return replace(rows, accounts=accounts, entries=entries)


def second_state(rows: LedgerRows) -> LedgerRows:
    """eur_pure's stored balance fixed, eur_clean's made 12,345 too high, two entries on
    jpy_clean (its balance follows)."""
    derived = {a[0]: sum(e[2] for e in rows.entries if e[1] == a[0]) for a in rows.accounts}
    fixed = [
        (a, c, derived[a] if a == "eur_pure" else b + 12_345 if a == "eur_clean" else b, u, o)
        for a, c, b, u, o in rows.accounts
    ]
    fixed_rows = replace(rows, accounts=fixed)
    return with_entries(fixed_rows, "jpy_clean", [700, 300], timedelta(minutes=3))


@dataclass
class Story:
    url: str
    full_truths: list[Truth]  # the full runs', oldest first
    full_run_ids: list[str]
    incremental_run_id: str
    final: LedgerRows  # the ledger now, written after the last run
    watermark_entry_id: int  # the newest entry the last run saw
    watermark_at: datetime  # its recorded_at


def reconcile(services: Services, url: str, mode: str) -> Any:
    ctx = services.context("health test", actor="reconciler")
    return services.reconciler.run(ctx, ReconcileOptions(ledger_url=url, mode=mode))


def tell_story(services: Services, url: str | None = None) -> Story:
    """Write, reconcile (full), change, reconcile (incremental, then full), then add three
    entries recorded 5, 10 and 15 minutes after the last run's newest one."""
    url = url or services.settings.ledger_url
    one = first_state()
    write_ledger(url, one)
    first = reconcile(services, url, "full")
    two = second_state(one)
    write_ledger(url, two)
    incremental = reconcile(services, url, "incremental")
    second = reconcile(services, url, "full")
    final = with_entries(two, "eur_clean", [1_000, 2_000, 3_000], timedelta(minutes=5))
    write_ledger(url, final)
    newest = max(two.entries, key=lambda e: e[0])
    return Story(url, [truth_of(one), truth_of(two)], [first.run_id, second.run_id],
                 incremental.run_id, final, newest[0], newest[6])  # fmt: skip


def recovery_states(n: int) -> list[LedgerRows]:
    """``n`` states of a fix rolling out: in state k the first k accounts (by id) whose stored
    balance is off have it put right, and k entries more are on jpy_clean."""
    one = first_state()
    derived = {a[0]: sum(e[2] for e in one.entries if e[1] == a[0]) for a in one.accounts}
    off = sorted(a[0] for a in one.accounts if a[2] != derived[a[0]])
    states = []
    for k in range(n):
        fixed = [(a, c, derived[a] if a in off[:k] else b, u, o) for a, c, b, u, o in one.accounts]
        states.append(with_entries(replace(one, accounts=fixed), "jpy_clean", [100] * k,
                                   timedelta(minutes=2)))  # fmt: skip
    return states


def tell_recovery(services: Services, runs: int = 6) -> list[Truth]:
    """A full run of each of ``recovery_states(runs)``, an incremental one between each two;
    returns the full runs' truths, oldest first."""
    url = services.settings.ledger_url
    truths = []
    for k, rows in enumerate(recovery_states(runs)):
        write_ledger(url, rows)
        if k:
            reconcile(services, url, "incremental")
        reconcile(services, url, "full")
        truths.append(truth_of(rows))
    return truths


ACTIONS = """---
id: PM-0009
kind: postmortem
incident: INC-0009
title: Fees doubled
---
# Fees doubled

## Action items

- [ ] Add a run key to the fee job (ana, 2026-10-01)
- [ ] Page on doubled fees (ravi, 2026-09-15)
- [x] Checkpoint the job (mikkel, 2026-09-01)
- [ ] Review nightly jobs (ana, 2026-12-15)
"""


def write_actions(services: Services) -> None:
    """A postmortem with four action items: two open and past due on 2026-10-17, one done,
    one open and due later."""
    path = services.settings.workspace / "postmortems" / "pm-0009.md"
    path.write_text(ACTIONS, encoding="utf-8")
    services.documents.sync_file(services.context("x"), path)
