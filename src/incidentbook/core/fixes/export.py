"""A plan as files for a ledger owner's own tools (``fix export``): SQL, one transaction per
batch, every statement guarded by the preconditions ``fix apply`` checks, so a replay (or a
second plan's overlapping export) writes nothing new; and CSV, one row per change.

The SQL is for the plan's own dialect (SQLite or PostgreSQL, from its ledger URL). Guards, per
account: the stored balance is still the plan's "before"; the account's entries other than
this plan's reversals are still the plan's count and sum; each entry to reverse exists and no
entry reverses it; the reversal's idempotency key is not in the ledger. The balance is set only
when all of the account's reversals are in the ledger (written by the statements before it, in
the same transaction) and it still has its "before".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from incidentbook.core.batches import chunks
from incidentbook.core.fixes.model import Plan, PlanAccount

CSV_COLUMNS = (
    "plan_id", "account_id", "currency", "action", "reverses_entry_id", "amount_minor",
    "idempotency_key", "stored_before_minor", "derived_after_minor", "reason",
)  # fmt: skip


def literal(value: object) -> str:
    """A SQL literal: NULL, an integer, or a quoted string ('' doubles a quote)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(values: Sequence[object]) -> str:
    return ", ".join(literal(v) for v in values)


def _account_sql(a: PlanAccount, now: str) -> list[str]:
    keys = [r.idempotency_key for r in a.reversals]
    acct = literal(a.account_id)
    not_ours = (
        f"(idempotency_key IS NULL OR idempotency_key NOT IN ({_in_list(keys)}))" if keys else "1=1"
    )
    unchanged = (
        f"(SELECT balance_minor FROM ledger_accounts WHERE account_id = {acct})"
        f" = {a.stored_before_minor}"
        f" AND (SELECT COUNT(*) FROM ledger_entries WHERE account_id = {acct} AND {not_ours})"
        f" = {a.entry_count}"
        f" AND (SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries"
        f" WHERE account_id = {acct} AND {not_ours}) = {a.derived_before_minor}"
    )
    out = [
        f"-- {a.account_id} {a.currency}: stored {a.stored_before_minor} -> "
        f"{a.derived_after_minor} ({', '.join(a.checks)})"
    ]
    for r in a.reversals:
        target = r.reverses_entry_id
        out.append(
            "INSERT INTO ledger_entries (entry_id, account_id, amount_minor, currency, kind,"
            " occurred_at, recorded_at, external_ref, idempotency_key, actor, reason,"
            " correlation_id, reverses_entry_id)"
            f" SELECT (SELECT COALESCE(MAX(entry_id), 0) + 1 FROM ledger_entries), {acct},"
            f" {r.amount_minor}, {literal(r.currency)}, {literal(r.kind)}, {now}, {now},"
            f" {literal(r.external_ref)}, {literal(r.idempotency_key)}, {literal(r.actor)},"
            f" {literal(r.reason)}, {literal(r.correlation_id)}, {target}"
            f" WHERE NOT EXISTS (SELECT 1 FROM ledger_entries WHERE idempotency_key ="
            f" {literal(r.idempotency_key)})"
            f" AND EXISTS (SELECT 1 FROM ledger_entries WHERE entry_id = {target})"
            f" AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE reverses_entry_id = {target})"
            f" AND {unchanged};"
        )
    if a.balance_change_minor:
        all_there = (
            f" AND (SELECT COUNT(*) FROM ledger_entries WHERE idempotency_key IN"
            f" ({_in_list(keys)})) = {len(keys)}"
            if keys
            else f" AND {unchanged}"
        )
        out.append(
            f"UPDATE ledger_accounts SET balance_minor = {a.derived_after_minor},"
            f" updated_at = {now} WHERE account_id = {acct}"
            f" AND balance_minor = {a.stored_before_minor}{all_there};"
        )
    return out


def plan_sql(plan: Plan, sha256: str, batch: int = 500) -> str:
    sqlite = plan.ledger.startswith("sqlite")
    now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')" if sqlite else "now()"
    begin = "BEGIN IMMEDIATE;" if sqlite else (
        "BEGIN;\nLOCK TABLE ledger_entries IN SHARE ROW EXCLUSIVE MODE;"
    )  # fmt: skip
    lines = [
        f"-- incidentbook {plan.plan_id} for {plan.incident_id}, sha256 {sha256}",
        f"-- ledger {plan.ledger}; {len(plan.accounts)} accounts, {plan.reversal_count}"
        " reversals; every statement is guarded and idempotent: replaying it writes nothing new",
    ]
    for number, accounts in enumerate(chunks(plan.accounts, batch)):
        lines.append(f"\n-- batch {number + 1}")
        lines.append(begin)
        for a in accounts:
            lines.extend(_account_sql(a, now))
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def plan_csv(plan: Plan) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for a in plan.accounts:
        base = (plan.plan_id, a.account_id, a.currency)
        for r in a.reversals:
            writer.writerow(
                (*base, "reverse", r.reverses_entry_id, r.amount_minor, r.idempotency_key,
                 a.stored_before_minor, a.derived_after_minor, r.reason)
            )  # fmt: skip
        if a.balance_change_minor:
            writer.writerow(
                (*base, "set_balance", "", a.derived_after_minor, "", a.stored_before_minor,
                 a.derived_after_minor, "stored balance set to the account's history")
            )  # fmt: skip
    return buffer.getvalue()
