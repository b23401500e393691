"""An incident's affected accounts (``incident accounts``, DESIGN §4 "A group's impact"): one
row per account of the reconciler alerts linked to the incident, with the findings behind it,
its delta, its stored and derived balance from the ledger, and the duplicate/balance
cross-check. Returns data; the CLI renders it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from incidentbook.core.ledger.audit import AccountBalance
from incidentbook.core.ledger.checks import CHECKS_WITHOUT_DELTA
from incidentbook.core.ledger.reconcile.model import SOURCE
from incidentbook.core.ledger.reconcile.runs import connection

if TYPE_CHECKING:
    from incidentbook.storage.db import Database

DUPLICATE = "duplicate_posting"
BALANCE = "balance_mismatch"

BalanceReader = Callable[[Sequence[str]], Mapping[str, AccountBalance]]


@dataclass(frozen=True)
class AccountFinding:
    """One reconciler finding (an alert) behind an affected account. ``linked``: the alert is
    linked to the incident (else it is the account's firing balance finding, shown beside
    its duplicate for the cross-check). ``copies`` is set for duplicates only."""

    check: str
    fingerprint: str
    status: str
    delta_minor: int
    entry_ids: list[int]
    copies: int | None
    external_ref: str | None
    linked: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AffectedAccount:
    """One affected account. ``delta_minor``: the sum of the deltas of its firing findings
    linked to the incident (integer minor units of ``currency``), per check in
    ``delta_minor_by_check``. Cross-check (for an account with a firing duplicate):
    ``stored_took_copies`` is True when the stored balance already took every copy (stored ==
    derived: no balance alert fires, yet the customer was charged more than once) and False
    when it did not; None for other accounts or one the ledger does not hold.
    ``fails_balance``: stored ≠ derived now (None when there is no stored balance)."""

    account_id: str
    currency: str
    delta_minor: int
    delta_minor_by_check: dict[str, int]
    stored_minor: int | None
    derived_minor: int | None
    in_ledger: bool
    duplicate: bool
    stored_took_copies: bool | None
    fails_balance: bool | None
    findings: list[AccountFinding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["findings"] = [f.to_dict() for f in self.findings]
        return out


@dataclass(frozen=True)
class AccountsSummary:
    """Totals over an incident's affected accounts: ``duplicate_accounts_failing_balance`` is
    how many of its duplicate accounts also fail ``balance_mismatch`` (the stored balance did
    not take the extra copies), ``duplicate_accounts_stored_took_copies`` how many did."""

    accounts: int
    delta_minor_by_currency: dict[str, int]
    duplicate_accounts: int
    duplicate_accounts_failing_balance: int
    duplicate_accounts_stored_took_copies: int
    balance_mismatch_accounts: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IncidentAccounts:
    incident_id: str
    accounts: list[AffectedAccount]
    summary: AccountsSummary

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "summary": self.summary.to_dict(),
            "accounts": [a.to_dict() for a in self.accounts],
        }


@dataclass(frozen=True)
class FindingRow:
    """A reconciler alert as read from the alerts table."""

    account_id: str
    currency: str
    finding: AccountFinding


def _ints(value: Any) -> list[int]:
    return [int(part) for part in str(value or "").split(",") if part.strip().isdigit()]


def _delta(check: str, annotations: Mapping[str, Any]) -> int:
    if check in CHECKS_WITHOUT_DELTA:
        return 0
    try:
        return int(annotations.get("delta_minor", "0"))
    except ValueError:
        return 0


def _finding_row(row: Sequence[Any], incident_id: str) -> FindingRow | None:
    name, fingerprint, status, labels_json, notes_json, linked_to = row
    labels = json.loads(labels_json)
    notes = json.loads(notes_json)
    account = str(labels.get("account_id") or "")
    if not account:
        return None
    entry_ids = _ints(notes.get("entry_ids")) or _ints(notes.get("entry_id"))
    if notes.get("reverses_entry_id"):
        entry_ids = sorted({*entry_ids, *_ints(notes.get("reverses_entry_id"))})
    copies = notes.get("copies")
    return FindingRow(
        account_id=account,
        currency=str(labels.get("currency") or ""),
        finding=AccountFinding(
            check=str(name),
            fingerprint=str(fingerprint),
            status=str(status),
            delta_minor=_delta(str(name), notes),
            entry_ids=entry_ids,
            copies=int(copies) if name == DUPLICATE and str(copies or "").isdigit() else None,
            external_ref=notes.get("external_ref"),
            linked=linked_to == incident_id,
        ),
    )


def linked_findings(db: Database, incident_id: str) -> list[FindingRow]:
    """The reconciler alerts linked to the incident (any status), and the firing
    ``balance_mismatch`` alerts of the same accounts that are not linked to it."""
    with db.read() as session:
        conn = connection(session)
        rows = conn.execute(
            text(
                "SELECT name, fingerprint, status, labels, annotations, incident_id FROM alerts"
                " WHERE source = :s AND incident_id = :i ORDER BY fingerprint"
            ),
            {"s": SOURCE, "i": incident_id},
        ).all()
        linked = [f for f in (_finding_row(r, incident_id) for r in rows) if f is not None]
        accounts = {f.account_id for f in linked}
        extra: list[FindingRow] = []
        if accounts:
            balance_rows = conn.execute(
                text(
                    "SELECT name, fingerprint, status, labels, annotations, incident_id"
                    " FROM alerts WHERE source = :s AND name = :n AND status = 'firing'"
                    " AND (incident_id IS NULL OR incident_id <> :i) ORDER BY fingerprint"
                ),
                {"s": SOURCE, "n": BALANCE, "i": incident_id},
            ).all()
            for r in balance_rows:
                found = _finding_row(r, incident_id)
                if found is not None and found.account_id in accounts:
                    extra.append(found)
    return linked + extra


def assemble(
    incident_id: str, rows: Sequence[FindingRow], balances: Mapping[str, AccountBalance]
) -> IncidentAccounts:
    """Rows per account from the findings and the ledger's balances (pure): largest delta
    magnitude first, then account id."""
    by_account: dict[str, list[FindingRow]] = {}
    for row in rows:
        by_account.setdefault(row.account_id, []).append(row)
    out: list[AffectedAccount] = []
    for account, found in by_account.items():
        balance = balances.get(account)
        firing = [f.finding for f in found if f.finding.linked and f.finding.status == "firing"]
        by_check: dict[str, int] = {}
        for f in firing:
            if f.check not in CHECKS_WITHOUT_DELTA:
                by_check[f.check] = by_check.get(f.check, 0) + f.delta_minor
        in_ledger = balance is not None and balance.exists
        known = balance is not None and (balance.exists or balance.entry_count > 0)
        stored = balance.stored_minor if balance is not None else None
        derived = balance.derived_minor if balance is not None else None
        fails = None if stored is None or derived is None else stored != derived
        duplicate = any(f.check == DUPLICATE for f in firing)
        currency = (balance.currency if balance is not None else None) or found[0].currency
        out.append(
            AffectedAccount(
                account_id=account,
                currency=currency,
                delta_minor=sum(by_check.values()),
                delta_minor_by_check=dict(sorted(by_check.items())),
                stored_minor=stored,
                derived_minor=derived if known else None,
                in_ledger=in_ledger,
                duplicate=duplicate,
                stored_took_copies=(not fails) if duplicate and fails is not None else None,
                fails_balance=fails,
                findings=sorted(
                    (f.finding for f in found),
                    key=lambda f: (f.check != DUPLICATE, f.check, f.fingerprint),
                ),
            )
        )
    out.sort(key=lambda a: (-abs(a.delta_minor), a.account_id))
    totals: dict[str, int] = {}
    for a in out:
        totals[a.currency] = totals.get(a.currency, 0) + a.delta_minor
    dups = [a for a in out if a.duplicate]
    summary = AccountsSummary(
        accounts=len(out),
        delta_minor_by_currency=dict(sorted(totals.items())),
        duplicate_accounts=len(dups),
        duplicate_accounts_failing_balance=sum(1 for a in dups if a.fails_balance),
        duplicate_accounts_stored_took_copies=sum(1 for a in dups if a.stored_took_copies),
        balance_mismatch_accounts=sum(1 for a in out if a.fails_balance),
    )
    return IncidentAccounts(incident_id=incident_id, accounts=out, summary=summary)


def incident_accounts_report(
    db: Database, incident_id: str, balances: BalanceReader
) -> IncidentAccounts:
    """The affected accounts of an incident; ``balances`` reads stored/derived balances from
    the ledger (``Auditor.balances``), asked only when there are accounts."""
    rows = linked_findings(db, incident_id)
    accounts = sorted({r.account_id for r in rows})
    return assemble(incident_id, rows, balances(accounts) if accounts else {})
