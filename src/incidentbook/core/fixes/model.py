"""Fix forward, the pure part (DESIGN §4 "Fix forward"): what a correction plan is, how one is
decided from an incident's findings and the ledger rows behind them, its canonical bytes and
hash, and what an apply does to one account given the ledger as it is now.

History is never edited. A duplicate is corrected by one ``reversal`` entry per extra copy (the
earliest copy stays); the stored balance is then set to the derived one. Only
``duplicate_posting`` and ``balance_mismatch`` are corrected; an account with entries in
another currency or an invalid reversal, and every finding of the other checks, is left for a
human with its evidence.

No SQL here: ``ledger`` reads and writes the ledger, ``store`` the state database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from incidentbook.digest import canonical_json

FIX_ACTOR = "job:incidentbook-fix"
KEY_PREFIX = "incidentbook-fix:reverse:"
REVERSAL_KIND = "reversal"
DUPLICATE = "duplicate_posting"
BALANCE = "balance_mismatch"
FIXABLE = (DUPLICATE, BALANCE)
# checks that move no money and so do not stop an account's balance being set to its history
HARMLESS = ("clock_skew",)
PLAN_PREFIX = "FIX-"

CORRECTED = "corrected"
ALREADY = "already_correct"
CONFLICT = "conflict"


def format_plan_id(number: int) -> str:
    return f"{PLAN_PREFIX}{number:04d}"


def parse_plan_id(text: str) -> int | None:
    """The number of ``FIX-0007`` (or ``7``), None when the text is no plan id."""
    value = text.strip().upper().removeprefix(PLAN_PREFIX)
    if not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def reversal_key(entry_id: int) -> str:
    """The idempotency key of the reversal of ``entry_id``: one per corrected entry, whatever
    plan or apply writes it, so an entry can never be reversed twice by incidentbook."""
    return f"{KEY_PREFIX}{entry_id}"


# -- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingRef:
    """A reconciler finding linked to the incident (a firing alert)."""

    check: str
    fingerprint: str
    account_id: str
    currency: str
    delta_minor: int
    entry_ids: tuple[int, ...]
    external_ref: str | None = None


@dataclass(frozen=True)
class EntryRow:
    """The columns of a ledger entry the planner decides on."""

    entry_id: int
    account_id: str
    amount_minor: int
    currency: str
    kind: str
    external_ref: str | None
    reverses_entry_id: int | None


@dataclass(frozen=True)
class AccountRows:
    """One account as the ledger holds it at plan time. ``reversed_ids``: which of its
    entries some entry (of any account) reverses. ``entries_sha256``: the hash of all its
    entry rows, every contract column, to prove later that nothing but the fix changed."""

    account_id: str
    exists: bool
    currency: str | None
    balance_minor: int | None
    entries: tuple[EntryRow, ...]
    reversed_ids: frozenset[int]
    entries_sha256: str


# -- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reversal:
    """One entry to write. ``entry_id``, ``occurred_at`` and ``recorded_at`` are given at
    apply time (the ledger's next id; the moment of the batch)."""

    reverses_entry_id: int
    account_id: str
    amount_minor: int
    currency: str
    kind: str
    external_ref: str | None
    idempotency_key: str
    actor: str
    reason: str
    correlation_id: str
    original_kind: str
    original_external_ref: str | None


@dataclass(frozen=True)
class PlanAccount:
    account_id: str
    currency: str
    stored_before_minor: int
    derived_before_minor: int
    derived_after_minor: int
    entry_count: int
    entries_sha256: str
    findings: tuple[str, ...]
    checks: tuple[str, ...]
    reversals: tuple[Reversal, ...]

    @property
    def balance_change_minor(self) -> int:
        return self.derived_after_minor - self.stored_before_minor

    @property
    def reversals_minor(self) -> int:
        return sum(r.amount_minor for r in self.reversals)


@dataclass(frozen=True)
class HumanItem:
    """A finding the plan does not correct, with its evidence and why."""

    check: str
    fingerprint: str
    account_id: str
    currency: str
    delta_minor: int
    entry_ids: tuple[int, ...]
    why: str


@dataclass(frozen=True)
class Foreseen:
    """Something the planner saw that an apply will meet (a finding that no longer holds, a
    copy already reversed by someone)."""

    account_id: str
    fingerprint: str
    what: str


@dataclass(frozen=True)
class CurrencyTotals:
    accounts: int
    reversals: int
    reversals_minor: int
    balance_change_minor: int


@dataclass(frozen=True)
class CheckTotals:
    findings: int
    accounts: int
    reversals: int
    delta_minor_by_currency: dict[str, int]


@dataclass(frozen=True)
class Plan:
    plan_id: str
    incident_id: str
    ledger: str
    created_at: str
    created_by: str
    accounts: tuple[PlanAccount, ...]
    needs_human: tuple[HumanItem, ...]
    foreseen: tuple[Foreseen, ...]
    totals_by_currency: dict[str, CurrencyTotals]
    totals_by_check: dict[str, CheckTotals]

    @property
    def reversal_count(self) -> int:
        return sum(len(a.reversals) for a in self.accounts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def canonical(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, body: str) -> Plan:
        return cls.from_dict(json.loads(body))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            plan_id=str(data["plan_id"]),
            incident_id=str(data["incident_id"]),
            ledger=str(data["ledger"]),
            created_at=str(data["created_at"]),
            created_by=str(data["created_by"]),
            accounts=tuple(
                PlanAccount(
                    **{
                        **a,
                        "findings": tuple(a["findings"]),
                        "checks": tuple(a["checks"]),
                        "reversals": tuple(Reversal(**r) for r in a["reversals"]),
                    }
                )
                for a in data["accounts"]
            ),
            needs_human=tuple(
                HumanItem(**{**h, "entry_ids": tuple(h["entry_ids"])}) for h in data["needs_human"]
            ),
            foreseen=tuple(Foreseen(**f) for f in data["foreseen"]),
            totals_by_currency={
                k: CurrencyTotals(**v) for k, v in data["totals_by_currency"].items()
            },
            totals_by_check={k: CheckTotals(**v) for k, v in data["totals_by_check"].items()},
        )


@dataclass(frozen=True)
class PlanHeader:
    """A stored plan's identity: the hash is over exactly the stored body."""

    plan_id: str
    incident_id: str
    ledger: str
    created_at: str
    created_by: str
    sha256: str
    accounts: int
    reversals: int


def _duplicate_copies(
    rows: AccountRows, refs: set[str]
) -> tuple[list[tuple[EntryRow, EntryRow]], list[str]]:
    """For the finding refs of one account: (copy to reverse, the copy that stays) pairs, the
    earliest uncancelled copy of each (ref, kind, amount) staying; and notes on refs whose
    duplicate no longer holds."""
    groups: dict[tuple[str, str, int], list[EntryRow]] = {}
    for entry in rows.entries:
        if entry.external_ref is None or entry.external_ref not in refs:
            continue
        if entry.entry_id in rows.reversed_ids:
            continue
        groups.setdefault((entry.external_ref, entry.kind, entry.amount_minor), []).append(entry)
    pairs: list[tuple[EntryRow, EntryRow]] = []
    live_refs: set[str] = set()
    for (ref, _kind, _amount), copies in sorted(groups.items(), key=lambda kv: kv[0]):
        if len(copies) < 2:
            continue
        live_refs.add(ref)
        ordered = sorted(copies, key=lambda e: e.entry_id)
        pairs.extend((extra, ordered[0]) for extra in ordered[1:])
    gone = sorted(refs - live_refs)
    return pairs, gone


def _human_reason(rows: AccountRows) -> str | None:
    """Why an account's balance cannot simply be set to its history, or None."""
    if not rows.exists:
        return "the account does not exist in the ledger (orphan entries)"
    foreign = sorted({e.currency for e in rows.entries if e.currency != rows.currency})
    if foreign:
        return f"entries in {', '.join(foreign)} on a {rows.currency} account"
    by_id = {e.entry_id: e for e in rows.entries}
    seen_targets: set[int] = set()
    for e in sorted(rows.entries, key=lambda e: e.entry_id):
        if e.reverses_entry_id is None:
            continue
        target = by_id.get(e.reverses_entry_id)
        if target is not None and target.amount_minor != -e.amount_minor:
            return f"entry {e.entry_id} reverses {target.entry_id} with another amount"
        if e.reverses_entry_id in seen_targets:
            return f"entry {e.reverses_entry_id} is reversed more than once"
        seen_targets.add(e.reverses_entry_id)
    return None


def decide_plan(
    *,
    plan_id: str,
    incident_id: str,
    ledger: str,
    created_at: str,
    created_by: str,
    findings: Sequence[FindingRef],
    accounts: Mapping[str, AccountRows],
) -> Plan:
    """The plan for an incident's firing findings, given the ledger rows of their accounts."""
    human: list[HumanItem] = []
    foreseen: list[Foreseen] = []
    by_account: dict[str, list[FindingRef]] = {}
    for f in sorted(findings, key=lambda f: f.fingerprint):
        if f.check in FIXABLE:
            by_account.setdefault(f.account_id, []).append(f)
        elif f.check not in HARMLESS:
            human.append(
                HumanItem(f.check, f.fingerprint, f.account_id, f.currency, f.delta_minor,
                          f.entry_ids, f"{f.check} is never corrected automatically")
            )  # fmt: skip
    planned: list[PlanAccount] = []
    for account_id in sorted(by_account):
        found = by_account[account_id]
        rows = accounts.get(account_id)
        reason = "the account is not in the ledger" if rows is None else _human_reason(rows)
        if rows is None or reason is not None:
            human.extend(
                HumanItem(f.check, f.fingerprint, f.account_id, f.currency, f.delta_minor,
                          f.entry_ids, str(reason))
                for f in found
            )  # fmt: skip
            continue
        assert rows.currency is not None and rows.balance_minor is not None
        refs = {f.external_ref for f in found if f.check == DUPLICATE and f.external_ref}
        pairs, gone = _duplicate_copies(rows, refs)
        for ref in gone:
            foreseen.append(
                Foreseen(account_id, f"{DUPLICATE}/{account_id}/{ref}",
                         "no uncancelled second copy left in the ledger: nothing to reverse")
            )  # fmt: skip
        reversals = tuple(
            Reversal(
                reverses_entry_id=extra.entry_id,
                account_id=account_id,
                amount_minor=-extra.amount_minor,
                currency=extra.currency,
                kind=REVERSAL_KIND,
                external_ref=None,
                idempotency_key=reversal_key(extra.entry_id),
                actor=FIX_ACTOR,
                reason=(
                    f"{plan_id} for {incident_id}: reverses entry {extra.entry_id}, a duplicate"
                    f" of entry {kept.entry_id} ({extra.external_ref})"
                ),
                correlation_id=plan_id,
                original_kind=extra.kind,
                original_external_ref=extra.external_ref,
            )
            for extra, kept in pairs
        )
        derived_before = sum(e.amount_minor for e in rows.entries)
        derived_after = derived_before + sum(r.amount_minor for r in reversals)
        if not reversals and rows.balance_minor == derived_after:
            for f in found:
                foreseen.append(
                    Foreseen(account_id, f.fingerprint,
                             "the stored balance already equals the history: nothing to do")
                )  # fmt: skip
            continue
        planned.append(
            PlanAccount(
                account_id=account_id,
                currency=rows.currency,
                stored_before_minor=rows.balance_minor,
                derived_before_minor=derived_before,
                derived_after_minor=derived_after,
                entry_count=len(rows.entries),
                entries_sha256=rows.entries_sha256,
                findings=tuple(f.fingerprint for f in found),
                checks=tuple(sorted({f.check for f in found})),
                reversals=reversals,
            )
        )
    return Plan(
        plan_id=plan_id,
        incident_id=incident_id,
        ledger=ledger,
        created_at=created_at,
        created_by=created_by,
        accounts=tuple(planned),
        needs_human=tuple(human),
        foreseen=tuple(foreseen),
        totals_by_currency=currency_totals(planned),
        totals_by_check=check_totals(findings, planned),
    )


def currency_totals(accounts: Iterable[PlanAccount]) -> dict[str, CurrencyTotals]:
    sums: dict[str, list[int]] = {}
    for a in accounts:
        row = sums.setdefault(a.currency, [0, 0, 0, 0])
        row[0] += 1
        row[1] += len(a.reversals)
        row[2] += a.reversals_minor
        row[3] += a.balance_change_minor
    return {c: CurrencyTotals(*v) for c, v in sorted(sums.items())}


def check_totals(
    findings: Sequence[FindingRef], accounts: Sequence[PlanAccount]
) -> dict[str, CheckTotals]:
    """Per fixable check: its findings, the planned accounts it touches, and the money: the
    reversals for duplicates, the balance changes of the accounts with a balance finding."""
    out: dict[str, CheckTotals] = {}
    for check in FIXABLE:
        mine = [a for a in accounts if check in a.checks]
        money: dict[str, int] = {}
        for a in mine:
            amount = a.reversals_minor if check == DUPLICATE else a.balance_change_minor
            money[a.currency] = money.get(a.currency, 0) + amount
        out[check] = CheckTotals(
            findings=sum(1 for f in findings if f.check == check),
            accounts=len(mine),
            reversals=sum(len(a.reversals) for a in mine) if check == DUPLICATE else 0,
            delta_minor_by_currency=dict(sorted(money.items())),
        )
    return out


# -- applying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerNow:
    """One planned account as the ledger holds it inside the apply's write transaction.
    ``keys``: the plan's reversal keys already in the ledger → the correlation id of the
    entry that has it; ``targets``: the entries to reverse that still exist; ``reversed_by``:
    those some entry reverses already → that entry's id."""

    exists: bool
    balance_minor: int | None
    entries_sum: int
    entry_count: int
    keys: Mapping[str, str | None]
    targets: frozenset[int]
    reversed_by: Mapping[int, int]


@dataclass(frozen=True)
class AccountOutcome:
    """What an apply did (or, dry, would do) to one account."""

    account_id: str
    currency: str
    status: str
    reasons: tuple[str, ...]
    stored_before_minor: int | None
    stored_after_minor: int | None
    reversals: int
    reversals_minor: int
    balance_change_minor: int
    write: bool = False
    written_entry_ids: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        # flat fields only: a shallow dict is asdict's result without its deep copies,
        # which cost half of an apply's checkpoint time at 500 accounts a batch
        return {f.name: getattr(self, f.name) for f in fields(self)}


def decide_account(
    account: PlanAccount, now: LedgerNow, plan_id: str, *, in_doubt: bool = False
) -> AccountOutcome:
    """Check the plan's preconditions for one account against the ledger now.

    ``corrected`` with ``write``: write the reversals and the balance now. ``corrected``
    without ``write``: this plan's reversals are there already and the balance agrees (an
    earlier attempt of the same batch committed). ``already_correct``: someone else (another
    plan) got it there. ``conflict``: the ledger moved since the plan; nothing is written.

    ``in_doubt``: an earlier attempt of this very batch may have committed before it was
    killed (the first batch a resumed apply runs). An account with no reversals then shows
    nothing of whose balance update it holds, so one already at the plan's "after" with its
    entries as planned counts as ``corrected`` by this plan, as the uninterrupted apply said."""

    def outcome(status: str, *reasons: str, write: bool = False) -> AccountOutcome:
        corrected = status == CORRECTED
        return AccountOutcome(
            account_id=account.account_id,
            currency=account.currency,
            status=status,
            reasons=tuple(reasons),
            stored_before_minor=account.stored_before_minor if corrected else now.balance_minor,
            stored_after_minor=account.derived_after_minor if corrected else now.balance_minor,
            reversals=len(account.reversals) if corrected else 0,
            reversals_minor=account.reversals_minor if corrected else 0,
            balance_change_minor=account.balance_change_minor if corrected else 0,
            write=write,
        )

    if not now.exists:
        return outcome(CONFLICT, "the account no longer exists")
    keys = [r.idempotency_key for r in account.reversals]
    present = [k for k in keys if k in now.keys]
    if keys and len(present) == len(keys):
        if now.balance_minor != account.derived_after_minor:
            return outcome(
                CONFLICT,
                f"reversals written, but the stored balance is {now.balance_minor},"
                f" not {account.derived_after_minor}",
            )
        writers = {now.keys[k] for k in present}
        if writers == {plan_id}:
            return outcome(CORRECTED)
        others = ", ".join(sorted(str(w) for w in writers if w != plan_id))
        return replace_reasons(outcome(ALREADY), f"reversed already by {others}")
    if present:
        return outcome(
            CONFLICT, f"{len(present)} of {len(keys)} reversals are in the ledger already"
        )
    if (
        not keys
        and now.balance_minor == account.derived_after_minor
        and now.entries_sum == account.derived_after_minor
    ):
        if in_doubt and now.entry_count == account.entry_count:
            return outcome(CORRECTED)
        return outcome(ALREADY, "the stored balance already equals the history")
    problems: list[str] = []
    if now.balance_minor != account.stored_before_minor:
        problems.append(
            f"stored balance changed: the plan saw {account.stored_before_minor},"
            f" the ledger has {now.balance_minor}"
        )
    if now.entry_count != account.entry_count or now.entries_sum != account.derived_before_minor:
        problems.append(
            f"entries changed: the plan saw {account.entry_count} summing to"
            f" {account.derived_before_minor}, the ledger has {now.entry_count} summing to"
            f" {now.entries_sum}"
        )
    for r in account.reversals:
        if r.reverses_entry_id not in now.targets:
            problems.append(f"entry {r.reverses_entry_id} no longer exists")
        elif r.reverses_entry_id in now.reversed_by:
            problems.append(
                f"entry {r.reverses_entry_id} was reversed meanwhile"
                f" (by entry {now.reversed_by[r.reverses_entry_id]})"
            )
    if problems:
        return outcome(CONFLICT, *problems)
    return outcome(CORRECTED, write=True)


def replace_reasons(outcome: AccountOutcome, *reasons: str) -> AccountOutcome:
    return AccountOutcome(**{**asdict(outcome), "reasons": tuple(reasons)})


@dataclass(frozen=True)
class BatchTotals:
    """One batch's (or a whole apply's) result, per currency: what the ledger holds of this
    plan after it, whether written now or by an earlier attempt."""

    accounts: int
    corrected: int
    already_correct: int
    conflicts: int
    reversals: int
    entries_written: int
    reversals_minor_by_currency: dict[str, int]
    balance_change_minor_by_currency: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_totals(outcomes: Sequence[AccountOutcome]) -> BatchTotals:
    reversals: dict[str, int] = {}
    balance: dict[str, int] = {}
    for o in outcomes:
        if o.status != CORRECTED:
            continue
        reversals[o.currency] = reversals.get(o.currency, 0) + o.reversals_minor
        balance[o.currency] = balance.get(o.currency, 0) + o.balance_change_minor
    return BatchTotals(
        accounts=len(outcomes),
        corrected=sum(1 for o in outcomes if o.status == CORRECTED),
        already_correct=sum(1 for o in outcomes if o.status == ALREADY),
        conflicts=sum(1 for o in outcomes if o.status == CONFLICT),
        reversals=sum(o.reversals for o in outcomes if o.status == CORRECTED),
        entries_written=sum(len(o.written_entry_ids) for o in outcomes),
        reversals_minor_by_currency=dict(sorted(reversals.items())),
        balance_change_minor_by_currency=dict(sorted(balance.items())),
    )
