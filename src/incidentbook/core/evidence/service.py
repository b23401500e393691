"""``EvidenceService``: freeze an incident's affected accounts (their ledger rows and entries)
into the state database once, list them, compare them with the ledger now, and re-hash them.

A freeze reads the ledger inside ONE ``Ledger.snapshot()``, ``BATCH`` accounts per query, and
writes in one state-database transaction; accounts already frozen for the incident are never
read or written again, so a second freeze adds nothing and the evidence of an account stays
what it was when it was first frozen (later corrections and runs do not change it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.batches import chunks, marks
from incidentbook.core.evidence import store
from incidentbook.core.evidence.model import (
    EvidenceComparison,
    EvidenceReport,
    FreezeResult,
    FrozenAccount,
    balances_by_currency,
    before_after,
    freeze_account,
    set_hash,
)
from incidentbook.core.evidence.verify import check_evidence
from incidentbook.core.ledger.contract import (
    ACCOUNT_COLUMNS,
    ENTRY_COLUMNS,
    Ledger,
    LedgerError,
    Snapshot,
    open_ledger,
    redact,
)
from incidentbook.core.ledger.reconcile.runs import connection
from incidentbook.obs import log_info
from incidentbook.storage.db import Database

BATCH = 500  # accounts per ledger query


def read_accounts(snap: Snapshot, account_ids: list[str]) -> list[FrozenAccount]:
    """The evidence of each account, two queries per ``BATCH`` accounts in the snapshot."""
    out: list[FrozenAccount] = []
    account_cols = ", ".join(ACCOUNT_COLUMNS)
    entry_cols = ", ".join(ENTRY_COLUMNS)
    for chunk in chunks(account_ids, BATCH):
        rows = {
            str(r[0]): r
            for r in snap.all(
                f"SELECT {account_cols} FROM ledger_accounts"
                f" WHERE account_id IN ({marks(chunk)})",
                chunk,
            )
        }
        entries: dict[str, list[tuple[Any, ...]]] = {}
        for e in snap.all(
            f"SELECT {entry_cols} FROM ledger_entries WHERE account_id IN ({marks(chunk)})",
            chunk,
        ):
            entries.setdefault(str(e[1]), []).append(e)
        out.extend(freeze_account(a, rows.get(a), entries.get(a, [])) for a in chunk)
    return out


class EvidenceService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- freezing ----------------------------------------------------------------------------

    def freeze(
        self, ctx: Context, incident_id: str, ledger: Ledger, account_ids: Iterable[str]
    ) -> FreezeResult:
        """Freeze the given accounts of the incident that are not frozen yet; a new set row
        is recorded only when accounts were added. An account the ledger lacks is frozen
        with ``account`` null and its (orphan) entries."""
        with self.db.read() as session:
            done = store.frozen_accounts(connection(session), incident_id)
        wanted = sorted(set(account_ids) - set(done))
        if not wanted:
            return FreezeResult(incident_id, 0)
        with ledger.snapshot() as snap:
            frozen = read_accounts(snap, wanted)
        frozen_at = to_iso(ctx.clock())
        with self.db.write() as session:
            conn = connection(session)
            done = store.frozen_accounts(conn, incident_id)  # a concurrent freeze may have won
            new = [f for f in frozen if f.account_id not in done]
            if not new:
                return FreezeResult(incident_id, 0)
            store.insert_accounts(conn, incident_id, ledger.display_url, frozen_at, new)
            pairs = [*done.items(), *((f.account_id, f.sha256) for f in new)]
            digest = set_hash(pairs)
            number = store.next_set_number(conn, incident_id)
            store.insert_set(conn, incident_id, number, frozen_at, len(pairs), digest)
        orphans = sum(1 for f in new if f.currency is None)
        log_info("evidence.frozen", ctx.correlation_id, incident=incident_id, added=len(new),
                 orphans=orphans, set=number, sha256=digest)  # fmt: skip
        return FreezeResult(incident_id, len(new), orphans, number, digest)

    def freeze_incident(self, ctx: Context, incident_id: str, ledger_url: str) -> FreezeResult:
        """Freeze the incident's reconciler accounts (``labels.account_id`` of the reconciler
        alerts linked to it) not frozen yet; the ledger is opened only when there are some.
        A ledger that cannot be opened or read raises ``LedgerError``."""
        with self.db.read() as session:
            pending = store.unfrozen_reconciler_accounts(connection(session), incident_id)
        accounts = pending.get(incident_id)
        if not accounts:
            return FreezeResult(incident_id, 0)
        ledger = open_ledger(ledger_url)
        try:
            return self.freeze(ctx, incident_id, ledger, accounts)
        finally:
            ledger.dispose()

    def freeze_pending(self, ctx: Context, ledger: Ledger) -> list[FreezeResult]:
        """After a reconcile run published: freeze, for every unresolved incident with
        reconciler alerts linked, those of its accounts not frozen yet (an ack whose ledger
        could not be read heals here, and accounts that joined the incident later are
        added). Resolved incidents are left: evidence frozen after the fix is not evidence
        at detection."""
        with self.db.read() as session:
            pending = store.unfrozen_reconciler_accounts(connection(session))
        return [self.freeze(ctx, inc, ledger, accounts) for inc, accounts in pending.items()]

    # -- reading -----------------------------------------------------------------------------

    def report(self, incident_id: str) -> EvidenceReport | None:
        """The incident's evidence, or None when nothing was frozen for it."""
        with self.db.read() as session:
            conn = connection(session)
            latest = store.latest_set(conn, incident_id)
            if latest is None:
                return None
            accounts = store.evidence_accounts(conn, incident_id)
        number, frozen_at, _count, digest = latest
        return EvidenceReport(
            incident_id=incident_id,
            set_number=number,
            set_sha256=digest,
            frozen_at=frozen_at,
            accounts=accounts,
            balance_minor_by_currency=balances_by_currency(accounts),
            orphans=sum(1 for a in accounts if a.currency is None),
        )

    def compare(self, incident_id: str, ledger_url: str) -> EvidenceComparison | None:
        """The incident's stored balances at detection against the ledger's now, per currency
        (None without evidence). "Now" is unknown (``now_error``) when the ledger cannot be
        read or is not the one the evidence was frozen from."""
        report = self.report(incident_id)
        if report is None:
            return None
        frozen_from = {a.ledger for a in report.accounts}
        if frozen_from != {redact(ledger_url)}:
            shown = ", ".join(sorted(frozen_from))
            return before_after(report, None, f"frozen from {shown}, not {redact(ledger_url)}")
        ids = [a.account_id for a in report.accounts if a.currency is not None]
        now: dict[str, tuple[str, int]] = {}
        try:
            ledger = open_ledger(ledger_url)
            try:
                with ledger.snapshot() as snap:
                    for chunk in chunks(ids, BATCH):
                        for account, currency, balance in snap.all(
                            "SELECT account_id, currency, balance_minor FROM ledger_accounts"
                            f" WHERE account_id IN ({marks(chunk)})",
                            chunk,
                        ):
                            if type(balance) is not int:
                                raise LedgerError(f"balance_minor of {account} is not an integer")
                            now[str(account)] = (str(currency), balance)
            finally:
                ledger.dispose()
        except LedgerError as exc:
            return before_after(report, None, str(exc))
        return before_after(report, now, None)

    # -- proof -------------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Every stored body and set re-hashed: the problems (``verify.check_evidence``)."""
        return check_evidence(self.db).problems
