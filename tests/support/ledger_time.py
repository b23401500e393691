"""A small ledger for the postmortem's ledger-time facts (SQLite and PostgreSQL), with the moments
chosen by hand: when its entries were recorded (ledger time) and when incidentbook's own clock
reconciles, acknowledges, resolves and reopens; and the postmortem's wording of a duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidentbook.context import Context
from incidentbook.services import Services
from incidentbook.testing.clocks import FakeClock
from incidentbook.testing.synth import EntryRow, LedgerRows

DAY = datetime(2026, 10, 16, tzinfo=UTC)
# Ledger time: when the entries were written (the first duplicate copy at 20:05:00).
RECORDED = {
    1: DAY.replace(hour=19, minute=30),  # acc_eur, a plain payment
    2: DAY.replace(hour=20, minute=5),  # acc_eur, evt_2 copy 1 (the first bad entry)
    3: DAY.replace(hour=20, minute=5, second=30),  # acc_eur, evt_2 copy 2
    4: DAY.replace(hour=21, minute=10),  # acc_jpy, evt_3 copy 1
    5: DAY.replace(hour=21, minute=11),  # acc_jpy, evt_3 copy 2
    6: DAY.replace(hour=21, minute=12),  # acc_jpy, evt_3 copy 3
    7: DAY.replace(hour=22, minute=0),  # acc_bal, its only entry (stored balance is off)
}
# incidentbook's time (the FakeClock is set to each of these before the step runs).
RECONCILED = datetime(2026, 10, 17, 2, 0, tzinfo=UTC)
FIRST_ACK = RECONCILED + timedelta(minutes=7, seconds=30)
FIRST_RESOLVE = FIRST_ACK + timedelta(minutes=40)
REOPENED = FIRST_RESOLVE + timedelta(minutes=15)
SECOND_ACK = REOPENED + timedelta(minutes=3)
FINAL_RESOLVE = SECOND_ACK + timedelta(hours=1, minutes=2)


def postmortem_ledger() -> LedgerRows:
    """acc_eur: a payment and evt_2 posted twice; acc_jpy: evt_3 posted three times (both
    stored balances took every copy: duplicate_posting only); acc_bal: a balance mismatch."""
    plan = [
        (1, "acc_eur", 1_000, "EUR", "evt_1"),
        (2, "acc_eur", 2_500, "EUR", "evt_2"),
        (3, "acc_eur", 2_500, "EUR", "evt_2"),
        (4, "acc_jpy", 700, "JPY", "evt_3"),
        (5, "acc_jpy", 700, "JPY", "evt_3"),
        (6, "acc_jpy", 700, "JPY", "evt_3"),
        (7, "acc_bal", 500, "EUR", "evt_4"),
    ]
    entries: list[EntryRow] = [
        (eid, acc, amount, cur, "payment", RECORDED[eid], RECORDED[eid], ref, f"idem_{eid}",
         "system:api", None, f"corr_{eid}", None)
        for eid, acc, amount, cur, ref in plan
    ]  # fmt: skip
    opened = DAY - timedelta(days=30)
    last = RECORDED[7]
    accounts = [
        ("acc_eur", "EUR", 6_000, last, opened),
        ("acc_jpy", "JPY", 2_100, last, opened),
        ("acc_bal", "EUR", 600, last, opened),
    ]
    return LedgerRows(accounts=accounts, entries=entries)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def spoken(delta: timedelta) -> str:
    """A duration as the postmortem prints it (hours and minutes; else minutes and seconds)."""
    total = int(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def resolve_reopen_reack(
    services: Services, ctx: Context, clock: FakeClock, incident_id: str, *, resolve: bool = True
) -> None:
    """After the first acknowledge: resolve at FIRST_RESOLVE, reopen at REOPENED, acknowledge
    again at SECOND_ACK and (``resolve``) resolve for good at FINAL_RESOLVE. The findings
    still fire (these stories are about times, not the fix), so each resolve overrides the
    closure gate with ``ctx``'s reason."""
    clock.now = FIRST_RESOLVE
    services.incidents.resolve(ctx, incident_id, force=True)
    clock.now = REOPENED
    services.incidents.reopen(ctx, incident_id)
    clock.now = SECOND_ACK
    services.incidents.acknowledge(ctx, incident_id)
    if resolve:
        clock.now = FINAL_RESOLVE
        services.incidents.resolve(ctx, incident_id, force=True)
