"""Fix forward, the use cases (DESIGN §4, §10 ``fix``): plan a correction from an incident's
findings, show and list plans, apply one in resumable batches, verify it, and the closure gate
``incident resolve`` asks.

An apply cuts the plan's accounts into batches of the size its first attempt chose (kept in
``fix_applies``), and for each batch not yet checkpointed: one ledger transaction
(``ledger.write_batch``), then, in one state transaction, the batch's checkpoint and its
``incident.correction_applied`` event. A ``kill -9`` between the two leaves a batch the ledger
holds and the state does not; the next attempt finds its reversals by their idempotency keys
(written by this plan: ``corrected``, nothing written again) and checkpoints it then. So the
ledger ends the same whatever was killed, and so do the events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incidentbook.clock import to_iso
from incidentbook.context import Context
from incidentbook.core.batches import Pacer, chunks
from incidentbook.core.fixes import ledger as ledger_io
from incidentbook.core.fixes import store
from incidentbook.core.fixes.model import (
    CONFLICT,
    FIXABLE,
    AccountOutcome,
    BatchTotals,
    FindingRef,
    Plan,
    PlanHeader,
    batch_totals,
    decide_plan,
    format_plan_id,
    parse_plan_id,
)
from incidentbook.core.incidents.model import (
    CORRECTION_APPLIED,
    FIX_PLANNED,
    parse_id,
)
from incidentbook.core.incidents.service import IncidentService
from incidentbook.core.ledger.checks import account_ids_findings
from incidentbook.core.ledger.contract import Ledger, redact
from incidentbook.core.ledger.reconcile.accounts import linked_findings
from incidentbook.digest import sha256_hex
from incidentbook.errors import NotFoundError, UsageError
from incidentbook.fs import exclusive_lock
from incidentbook.obs import log_info
from incidentbook.storage.db import Database

DEFAULT_BATCH = 500
MAX_BATCH = 10_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    header: PlanHeader
    created: bool


@dataclass
class ApplyReport:
    """What an apply (or a dry run) did: per account outcomes of the batches it ran now, and
    the totals over every batch of the plan so far (earlier attempts included)."""

    plan_id: str
    sha256: str
    ledger: str
    dry_run: bool
    batch_size: int
    batches_total: int
    batches_run: int
    resumed_at: int | None
    complete: bool
    totals: BatchTotals
    outcomes: list[AccountOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "sha256": self.sha256,
            "ledger": self.ledger,
            "dry_run": self.dry_run,
            "batch_size": self.batch_size,
            "batches_total": self.batches_total,
            "batches_run": self.batches_run,
            "resumed_at_batch": self.resumed_at,
            "complete": self.complete,
            "totals": self.totals.to_dict(),
            "accounts": [o.to_dict() for o in self.outcomes],
        }


@dataclass(frozen=True)
class VerifyAccount:
    account_id: str
    stored_minor: int | None
    derived_minor: int
    findings: tuple[str, ...]
    reversals_present: int
    reversals_planned: int
    others_unchanged: bool

    @property
    def ok(self) -> bool:
        return (
            not self.findings
            and self.stored_minor == self.derived_minor
            and self.reversals_present == self.reversals_planned
            and self.others_unchanged
        )


@dataclass(frozen=True)
class VerifyReport:
    plan_id: str
    accounts: tuple[VerifyAccount, ...]

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.accounts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "ok": self.ok,
            "accounts": [{**a.__dict__, "ok": a.ok} for a in self.accounts],
        }


class FixService:
    """Correction plans and their applies. Writes to a ledger only in ``apply``."""

    def __init__(self, db: Database, incidents: IncidentService, lock_path: Path) -> None:
        self.db = db
        self.incidents = incidents
        self.lock_path = lock_path

    # -- reads -----------------------------------------------------------------------------

    def load(self, plan_id: str) -> tuple[Plan, PlanHeader]:
        number = parse_plan_id(plan_id)
        if number is None:
            raise UsageError(f"not a plan id: {plan_id!r} (plans are FIX-0001, FIX-0002, …)")
        canonical = format_plan_id(number)
        with self.db.read() as session:
            stored = store.load_plan(session, canonical)
        if stored is None:
            raise NotFoundError(f"no plan {canonical} (incidentbook fix list shows the plans)")
        return Plan.from_json(stored.body), stored.header

    def list_plans(self, incident_id: str | None = None) -> list[PlanHeader]:
        with self.db.read() as session:
            return store.list_plans(session, parse_id(incident_id) if incident_id else None)

    def apply_state(self, plan_id: str) -> tuple[store.ApplyRow | None, list[store.BatchRow]]:
        with self.db.read() as session:
            return store.get_apply(session, plan_id), store.batches(session, plan_id)

    # -- planning ----------------------------------------------------------------------------

    def plan(self, ctx: Context, incident_id: str, ledger: Ledger) -> PlanResult:
        """A plan for the incident's firing reconciler findings, from the ledger now. The same
        findings over the same ledger give back the newest plan instead of a second one."""
        incident = self.incidents.get(incident_id)
        refs = [
            FindingRef(
                check=r.finding.check,
                fingerprint=r.finding.fingerprint,
                account_id=r.account_id,
                currency=r.currency,
                delta_minor=r.finding.delta_minor,
                entry_ids=tuple(r.finding.entry_ids),
                external_ref=r.finding.external_ref,
            )
            for r in linked_findings(self.db, incident.id)
            if r.finding.linked and r.finding.status == "firing"
        ]
        if not refs:
            raise UsageError(
                f"{incident.id} has no firing reconciler findings: nothing to fix"
                " (run incidentbook reconcile to refresh them)"
            )
        accounts = sorted({r.account_id for r in refs if r.check in FIXABLE})
        with ledger.snapshot() as snap:
            rows = ledger_io.read_accounts(snap, accounts)
        display = ledger.display_url
        with self.db.write() as session:
            newest = store.newest_plan(session, incident.id)
            if newest is not None:
                again = Plan.from_json(newest.body)
                same = decide_plan(
                    plan_id=again.plan_id, incident_id=incident.id, ledger=display,
                    created_at=again.created_at, created_by=again.created_by,
                    findings=refs, accounts=rows,
                )  # fmt: skip
                if same.canonical() == newest.body:
                    return PlanResult(again, newest.header, created=False)
            number = store.next_number(session)
            plan = decide_plan(
                plan_id=format_plan_id(number), incident_id=incident.id, ledger=display,
                created_at=to_iso(ctx.clock()), created_by=ctx.actor, findings=refs,
                accounts=rows,
            )  # fmt: skip
            body = plan.canonical()
            header = PlanHeader(
                plan_id=plan.plan_id,
                incident_id=incident.id,
                ledger=display,
                created_at=plan.created_at,
                created_by=plan.created_by,
                sha256=sha256_hex(body),
                accounts=len(plan.accounts),
                reversals=plan.reversal_count,
            )
            store.insert_plan(session, number, header, body)
            self.incidents.apply_in(
                session,
                ctx,
                incident.id,
                FIX_PLANNED,
                {
                    "plan_id": plan.plan_id,
                    "sha256": header.sha256,
                    "accounts": header.accounts,
                    "reversals": header.reversals,
                    "needs_human": len(plan.needs_human),
                    "ledger": display,
                    "reversals_minor_by_currency": {
                        c: t.reversals_minor for c, t in plan.totals_by_currency.items()
                    },
                    "balance_change_minor_by_currency": {
                        c: t.balance_change_minor for c, t in plan.totals_by_currency.items()
                    },
                },
            )
        log_info("fix.planned", ctx.correlation_id, plan=plan.plan_id, incident=incident.id,
                 accounts=header.accounts, reversals=header.reversals)  # fmt: skip
        return PlanResult(plan, header, created=True)

    # -- applying ----------------------------------------------------------------------------

    def _check_ledger(self, plan: Plan, ledger: Ledger) -> None:
        if redact(ledger.url) != plan.ledger:
            raise UsageError(
                f"{plan.plan_id} was planned for ledger {plan.ledger}, not {ledger.display_url}"
            )

    def dry_run(self, plan_id: str, ledger: Ledger) -> ApplyReport:
        """What an apply would do now, account by account; writes nothing anywhere."""
        plan, header = self.load(plan_id)
        self._check_ledger(plan, ledger)
        outcomes: list[AccountOutcome] = []
        for batch in chunks(plan.accounts, DEFAULT_BATCH):
            outcomes.extend(ledger_io.dry_run(ledger, batch, plan.plan_id))
        return ApplyReport(
            plan_id=plan.plan_id, sha256=header.sha256, ledger=plan.ledger, dry_run=True,
            batch_size=DEFAULT_BATCH, batches_total=0, batches_run=0, resumed_at=None,
            complete=False, totals=batch_totals(outcomes), outcomes=outcomes,
        )  # fmt: skip

    def apply(
        self,
        ctx: Context,
        plan_id: str,
        ledger: Ledger,
        *,
        batch_size: int | None = None,
        max_rate: float | None = None,
        progress: Progress | None = None,
    ) -> ApplyReport:
        """Apply the plan's batches not yet checkpointed (all of them the first time)."""
        if batch_size is not None and not 1 <= batch_size <= MAX_BATCH:
            raise UsageError(f"--batch must be between 1 and {MAX_BATCH}")
        if max_rate is not None and not max_rate > 0:  # also refuses nan
            raise UsageError("--max-rate must be a positive number of accounts per second")
        plan, header = self.load(plan_id)
        self._check_ledger(plan, ledger)
        busy = "another fix apply is running in this workspace; wait for it or run again"
        with exclusive_lock(self.lock_path, busy):
            with self.db.write() as session:
                row = store.get_apply(session, plan.plan_id)
                if row is None:
                    size = batch_size or DEFAULT_BATCH
                    store.start_apply(session, plan.plan_id, plan.ledger, size,
                                      to_iso(ctx.clock()), ctx.actor)  # fmt: skip
                    resumed = False
                else:
                    size = row.batch_size  # a resumed apply cuts the batches it began with
                    resumed = True
                done = {b.batch_no for b in store.batches(session, plan.plan_id)}
            batches = list(chunks(plan.accounts, size))
            first_left = next((n for n in range(len(batches)) if n not in done), None)
            pacer = Pacer(max_rate)
            outcomes: list[AccountOutcome] = []
            ran = 0
            if progress is not None:
                progress(sum(len(batches[n]) for n in done if n < len(batches)), len(plan.accounts))
            for number, batch in enumerate(batches):
                if number in done:
                    continue
                at = ctx.clock()
                # only the first batch a resumed apply runs can have been committed unseen
                in_doubt = resumed and number == first_left
                result = ledger_io.write_batch(ledger, batch, plan.plan_id, at, in_doubt=in_doubt)
                self._checkpoint(ctx, plan, header, number, at, result)
                outcomes.extend(result)
                ran += 1
                done.add(number)
                if progress is not None:
                    progress(sum(len(batches[n]) for n in done), len(plan.accounts))
                pacer.wait(len(batch))
            with self.db.write() as session:
                store.finish_apply(session, plan.plan_id, to_iso(ctx.clock()))
                every = store.batches(session, plan.plan_id)
        return ApplyReport(
            plan_id=plan.plan_id, sha256=header.sha256, ledger=plan.ledger, dry_run=False,
            batch_size=size, batches_total=len(batches), batches_run=ran,
            resumed_at=first_left if resumed and ran else None, complete=True,
            totals=sum_batches(every), outcomes=outcomes,
        )  # fmt: skip

    def _checkpoint(
        self,
        ctx: Context,
        plan: Plan,
        header: PlanHeader,
        number: int,
        at: Any,
        outcomes: Sequence[AccountOutcome],
    ) -> None:
        totals = batch_totals(outcomes)
        with self.db.write() as session:
            store.insert_batch(
                session,
                plan.plan_id,
                number,
                to_iso(at),
                (totals.accounts, totals.corrected, totals.conflicts, totals.entries_written),
                {"totals": totals.to_dict(), "accounts": [o.to_dict() for o in outcomes]},
            )
            self.incidents.apply_in(
                session,
                ctx,
                plan.incident_id,
                CORRECTION_APPLIED,
                {
                    "plan_id": plan.plan_id,
                    "sha256": header.sha256,
                    "batch": number,
                    "ledger": plan.ledger,
                    "accounts": totals.accounts,
                    "corrected": totals.corrected,
                    "already_correct": totals.already_correct,
                    "conflicts": totals.conflicts,
                    "reversals": totals.reversals,
                    "entries_written": totals.entries_written,
                    "reversals_minor_by_currency": totals.reversals_minor_by_currency,
                    "balance_change_minor_by_currency": totals.balance_change_minor_by_currency,
                    "conflict_accounts": [
                        o.account_id for o in outcomes if o.status == CONFLICT
                    ][:50],
                },
            )
        log_info("fix.batch_applied", ctx.correlation_id, plan=plan.plan_id, batch=number,
                 accounts=totals.accounts, corrected=totals.corrected,
                 conflicts=totals.conflicts, written=totals.entries_written)  # fmt: skip

    # -- proving -------------------------------------------------------------------------------

    def verify(self, plan_id: str, ledger: Ledger) -> VerifyReport:
        """Re-check the plan's accounts in the ledger now: no balance or duplicate finding
        left, stored equals history, this plan's reversals there once each, and every other
        entry of the account exactly as the plan saw it."""
        plan, _ = self.load(plan_id)
        self._check_ledger(plan, ledger)
        ids = [a.account_id for a in plan.accounts]
        out: list[VerifyAccount] = []
        with ledger.snapshot() as snap:
            _, findings = account_ids_findings(snap, ids)
            entries = ledger_io.account_entries(snap, ids)
            stored = {
                a: r.balance_minor for a, r in ledger_io.read_accounts(snap, ids).items()
            }
        left: dict[str, list[str]] = {}
        for f in findings:
            if f.check in FIXABLE:
                left.setdefault(f.account_id, []).append(f.fingerprint)
        for account in plan.accounts:
            rows = entries.get(account.account_id, [])
            keys = {r.idempotency_key for r in account.reversals}
            mine = [r for r in rows if r[8] in keys]
            others = [r for r in rows if r[8] not in keys]
            out.append(
                VerifyAccount(
                    account_id=account.account_id,
                    stored_minor=stored.get(account.account_id),
                    derived_minor=sum(int(r[2]) for r in rows),
                    findings=tuple(left.get(account.account_id, [])),
                    reversals_present=len(mine),
                    reversals_planned=len(account.reversals),
                    others_unchanged=ledger_io.entries_sha256(others) == account.entries_sha256,
                )
            )
        return VerifyReport(plan.plan_id, tuple(out))


def sum_batches(rows: Sequence[store.BatchRow]) -> BatchTotals:
    """The totals of every checkpointed batch of a plan."""
    reversals: dict[str, int] = {}
    balance: dict[str, int] = {}
    counts = [0, 0, 0, 0, 0, 0]
    for row in rows:
        t = row.outcome["totals"]
        for i, name in enumerate(
            ("accounts", "corrected", "already_correct", "conflicts", "reversals",
             "entries_written")
        ):  # fmt: skip
            counts[i] += int(t[name])
        for c, v in t["reversals_minor_by_currency"].items():
            reversals[c] = reversals.get(c, 0) + int(v)
        for c, v in t["balance_change_minor_by_currency"].items():
            balance[c] = balance.get(c, 0) + int(v)
    accounts, corrected, already, conflicts, reversal_count, written = counts
    return BatchTotals(
        accounts=accounts, corrected=corrected, already_correct=already, conflicts=conflicts,
        reversals=reversal_count, entries_written=written,
        reversals_minor_by_currency=dict(sorted(reversals.items())),
        balance_change_minor_by_currency=dict(sorted(balance.items())),
    )  # fmt: skip
