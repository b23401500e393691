"""A production-shaped demo ledger (SQLite), fast and deterministic for a seed and an end time.

The mix: payments from the processor webhook and the API, refunds, fees from a nightly job,
transfers (two entries, one correlation id), manual adjustments, reversals, a backfill job;
heavy-tailed activity (a few accounts carry most of the traffic); idempotency keys, actors,
correlation ids on every entry. The seed scenario of DESIGN §1 is injected: during a six-hour
window a webhook retry path without an idempotency check posted upstream payments two or three
times to about 0.5% of accounts, and updated stored balances so that some disagree with their
histories; plus a few faults of every other reconciler check.

The file is built beside its destination and renamed into place, so a ledger is never half
written. ``demo_step`` is the ``incidentbook demo`` step: build (once), then reconcile.
"""

from __future__ import annotations

import os
import random
import sqlite3
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incidentbook.core.ledger.contract import RECOMMENDED_INDEXES
from incidentbook.core.ledger.reconcile.model import ReconcileOptions
from incidentbook.errors import UsageError

if TYPE_CHECKING:
    from incidentbook.demo.model import DemoOptions, DemoReport
    from incidentbook.services import Services

SCHEMA = """
CREATE TABLE ledger_accounts (
  account_id     TEXT PRIMARY KEY,
  currency       TEXT NOT NULL,
  balance_minor  INTEGER NOT NULL,
  updated_at     TEXT NOT NULL,
  opened_at      TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE ledger_entries (
  entry_id          INTEGER PRIMARY KEY,
  account_id        TEXT NOT NULL,
  amount_minor      INTEGER NOT NULL,
  currency          TEXT NOT NULL,
  kind              TEXT NOT NULL,
  occurred_at       TEXT NOT NULL,
  recorded_at       TEXT NOT NULL,
  external_ref      TEXT,
  idempotency_key   TEXT,
  actor             TEXT NOT NULL,
  reason            TEXT,
  correlation_id    TEXT,
  reverses_entry_id INTEGER
);
CREATE TABLE incidentbook_demo (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF"]
CURRENCY_WEIGHTS = [55, 25, 12, 5, 3]
STAFF = ["user:ana", "user:bo", "user:chen", "user:dara"]
INSERT_ENTRY = "INSERT INTO ledger_entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
MISSING_TARGET = 9_000_000_000_000

Row = tuple[Any, ...]


@dataclass(frozen=True)
class LedgerParams:
    accounts: int = 20_000
    days: int = 30
    seed: int = 7
    entries_per_account: float = 10.0
    end: datetime = datetime(2026, 10, 17, 9, 0, tzinfo=UTC)

    def stamp(self) -> str:
        end = self.end.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"accounts={self.accounts} days={self.days} seed={self.seed} "
            f"per_account={self.entries_per_account} end={end}"
        )


@dataclass
class BuildResult:
    path: Path
    built: bool
    accounts: int = 0
    entries: int = 0
    injected: dict[str, int] = field(default_factory=dict)


class _Clock:
    """ISO-8601 text for epoch milliseconds, with the date-and-hour prefix cached."""

    def __init__(self) -> None:
        self._hours: dict[int, str] = {}

    def iso(self, ms: int) -> str:
        hour, rest = divmod(ms, 3_600_000)
        prefix = self._hours.get(hour)
        if prefix is None:
            prefix = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:")
            self._hours[hour] = prefix
        minute, rest = divmod(rest, 60_000)
        second, milli = divmod(rest, 1000)
        return f"{prefix}{minute:02d}:{second:02d}.{milli:03d}Z"


class _Generator:
    def __init__(self, params: LedgerParams) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        self.clock = _Clock()
        n = params.accounts
        self.n = n
        rng = self.rng
        self.ids = [f"acc_{i:07d}" for i in range(n)]
        self.cur = rng.choices(CURRENCIES, weights=CURRENCY_WEIGHTS, k=n)
        weights = [min(rng.paretovariate(1.3), 400.0) for _ in range(n)]
        self.cum = list(accumulate(weights))
        self.bal = [0] * n
        self.stored_delta: dict[int, int] = {}
        self.last_id = [0] * n
        self.last_amount = [0] * n
        self.last_ms = [0] * n
        self.end_ms = int(params.end.timestamp() * 1000)
        self.start_ms = self.end_ms - params.days * 86_400_000
        self.opened = [
            self.start_ms - rng.randint(1, 400) * 86_400_000 - rng.randint(0, 86_399_999)
            for _ in range(n)
        ]
        self.next_id = 1
        self.injected: dict[str, int] = {}
        self.ref_counter = 0

    # -- small helpers -----------------------------------------------------------------

    def hex(self, bits: int = 48) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def pick(self, k: int) -> list[int]:
        total = self.cum[-1]
        rnd = self.rng.random
        cum = self.cum
        last = self.n - 1
        return [min(bisect_right(cum, rnd() * total), last) for _ in range(k)]

    def count(self, key: str, k: int = 1) -> None:
        self.injected[key] = self.injected.get(key, 0) + k

    # -- entries: (ms, account index or -1, amount, currency, kind, occurred_ms, ext_ref,
    #             idem, actor, reason, corr, reverses, orphan account id) -----------------

    def organic(self, ms: int, a: int, out: list[list[Any]]) -> None:
        rng = self.rng
        roll = rng.random()
        cur = self.cur[a]
        corr = "req_" + self.hex()
        if roll < 0.55:
            amount = int(rng.lognormvariate(8.0, 1.2)) + 1
            ref = "evt_" + self.hex()
            actor = "webhook:processor" if rng.random() < 0.7 else "system:api"
            out.append(
                [ms, a, amount, cur, "payment", ms - rng.randint(50, 4000), ref, "pay_" + ref,
                 actor, "card payment captured", corr, None, None]
            )  # fmt: skip
        elif roll < 0.63:
            amount = -(int(rng.lognormvariate(7.0, 1.0)) + 1)
            ref = "rfd_" + self.hex()
            out.append(
                [ms, a, amount, cur, "refund", ms - rng.randint(50, 4000), ref, "rfd_" + ref,
                 "system:api", "customer refund", corr, None, None]
            )  # fmt: skip
        elif roll < 0.82:
            amount = -rng.randint(25, 350)
            out.append(
                [ms, a, amount, cur, "fee", ms - rng.randint(0, 600_000), None,
                 f"fee_{self.hex()}", "job:fees-nightly", "processing fee", corr, None, None]
            )  # fmt: skip
        elif roll < 0.97:
            b = self.pick(1)[0]
            if b == a or self.cur[b] != cur:
                b = (a + 1) % self.n
                if self.cur[b] != cur:
                    return self.organic(ms, a, out)
            amount = int(rng.lognormvariate(7.5, 1.3)) + 1
            key = "trf_" + self.hex()
            out.append(
                [ms, a, -amount, cur, "transfer", ms, None, key + ":out", "system:api",
                 "transfer out", corr, None, None]
            )  # fmt: skip
            out.append(
                [ms + 1, b, amount, cur, "transfer", ms, None, key + ":in", "system:api",
                 "transfer in", corr, None, None]
            )  # fmt: skip
        elif roll < 0.985 and self.last_id[a]:
            target = self.last_id[a]
            out.append(
                [ms, a, -self.last_amount[a], cur, "reversal", ms, None, f"rev_{target}",
                 rng.choice(STAFF), "reversed on customer request", corr, target, None]
            )  # fmt: skip
            self.last_id[a] = 0
        elif roll < 0.993:
            amount = rng.randint(-5000, 5000) or 1
            out.append(
                [ms, a, amount, cur, "adjustment", ms, None, "adj_" + self.hex(), rng.choice(STAFF),
                 "goodwill adjustment", corr, None, None]
            )  # fmt: skip
        else:
            amount = int(rng.lognormvariate(6.5, 1.0)) + 1
            occurred = ms - rng.randint(2, 60) * 86_400_000
            out.append(
                [ms, a, amount, cur, "backfill", occurred, "bf_" + self.hex(), "bf_" + self.hex(),
                 "job:backfill-7", "backfilled from processor report", "job-backfill-7", None,
                 None]
            )  # fmt: skip
        return None

    # -- the seed scenario ---------------------------------------------------------------

    def scenario(self, lo: int, hi: int, out: list[list[Any]]) -> None:
        """Upstream payments posted two or three times by the webhook retry path."""
        rng = self.rng
        window_end = self.end_ms - 3_600_000
        window_start = window_end - 6 * 3_600_000
        start, stop = max(lo, window_start), min(hi, window_end)
        if start >= stop:
            return
        share = (stop - start) / (window_end - window_start)
        k = round(self.n * 0.005 * share) or (1 if rng.random() < share * 3 else 0)
        for a in rng.sample(range(self.n), min(k, self.n)):
            ms = rng.randint(start, stop - 30_000)
            cur = self.cur[a]
            amount = int(rng.lognormvariate(8.5, 1.1)) + 100
            ref = "evt_" + self.hex()
            out.append(
                [ms, a, amount, cur, "payment", ms - 900, ref, "pay_" + ref, "webhook:processor",
                 "card payment captured", "req_" + self.hex(), None, None]
            )  # fmt: skip
            copies = 1 if rng.random() < 0.7 else 2
            for c in range(copies):
                retry_ms = ms + (c + 1) * rng.randint(2_000, 20_000)
                out.append(
                    [retry_ms, a, amount, cur, "payment", ms - 900, ref, None,
                     "webhook:processor", "webhook retry", "req_" + self.hex(), None, None]
                )  # fmt: skip
            self.count("duplicate_posting")
            if rng.random() < 0.45:
                # the retry path updated the stored balance once only: it disagrees
                self.stored_delta[a] = self.stored_delta.get(a, 0) - amount * copies
                self.count("balance_mismatch")

    def faults(self, lo: int, hi: int, out: list[list[Any]]) -> list[tuple[str, int]]:
        """A few faults of every other check, spread over the history."""
        rng = self.rng
        total_hours = (self.end_ms - self.start_ms) // 3_600_000
        hour = (lo - self.start_ms) // 3_600_000
        marks: list[tuple[str, int]] = []
        plan = {
            max(1, total_hours // 5): "currency_mismatch",
            max(2, total_hours // 3): "orphan_entry",
            max(3, total_hours // 2): "invalid_reversal",
            max(4, (2 * total_hours) // 3): "clock_skew",
            max(5, (4 * total_hours) // 5): "currency_mismatch",
        }
        check = plan.get(hour)
        if check is None:
            return marks
        for _ in range(3):
            ms = rng.randint(lo, hi - 1000)
            a = self.pick(1)[0]
            cur = self.cur[a]
            corr = "req_" + self.hex()
            if check == "currency_mismatch":
                other = next(c for c in CURRENCIES if c != cur)
                out.append(
                    [ms, a, -(rng.randint(500, 9000)), other, "refund", ms, "rfd_" + self.hex(),
                     None, "system:api", "refund after FX config change", corr, None, None]
                )  # fmt: skip
                self.count(check)
            elif check == "orphan_entry":
                ghost = f"acc_x{self.hex(24)}"
                out.append(
                    [ms, -1, rng.randint(500, 9000), cur, "payment", ms, "evt_" + self.hex(),
                     None, "job:backfill-7", "backfill for a deleted account", corr, None, ghost]
                )  # fmt: skip
                self.count(check)
            elif check == "invalid_reversal":
                marks.append((check, a))
            else:
                marks.append((check, 0))
        return marks

    # -- assembly --------------------------------------------------------------------------

    def slices(self) -> Any:
        rng = self.rng
        total = int(self.n * self.p.entries_per_account)
        hours = self.p.days * 24
        # diurnal shape: quiet nights, busy afternoons
        shape = [0.35 + 0.65 * max(0.0, 1 - abs(h - 15) / 10) for h in range(24)]
        norm = sum(shape) / 24
        for h in range(hours):
            lo = self.start_ms + h * 3_600_000
            hi = lo + 3_600_000
            hour_of_day = datetime.fromtimestamp(lo / 1000, UTC).hour
            k = int(total / hours * shape[hour_of_day] / norm / 1.08)
            raw: list[list[Any]] = []
            for a, offset in zip(self.pick(k), sorted(rng.randrange(3_600_000) for _ in range(k)),
                                 strict=True):  # fmt: skip
                self.organic(lo + offset, a, raw)
            self.scenario(lo, hi, raw)
            marks = self.faults(lo, hi, raw)
            raw.sort(key=lambda r: r[0])
            yield self.number(raw, marks)

    def number(self, raw: list[list[Any]], marks: list[tuple[str, int]]) -> list[Row]:
        rows: list[Row] = []
        iso = self.clock.iso
        rng = self.rng
        for r in raw:
            ms, a, amount, cur, kind, occ, ref, idem, actor, reason, corr, rev, ghost = r
            entry_id = self.next_id
            self.next_id += 1
            if a >= 0:
                account = self.ids[a]
                self.bal[a] += amount
                self.last_ms[a] = ms
                if kind in ("payment", "refund", "fee", "adjustment") and ref is not None:
                    self.last_id[a] = entry_id
                    self.last_amount[a] = amount
            else:
                account = ghost
            rows.append(
                (entry_id, account, amount, cur, kind, iso(occ), iso(ms), ref, idem, actor,
                 reason, corr, rev)
            )  # fmt: skip
        for check, a in marks:
            if len(rows) < 10:
                continue
            if check == "clock_skew":
                i = rng.randrange(5, len(rows) - 2)
                prev = rows[i - 1]
                skewed_ms = _ms(prev[6]) - rng.randint(25, 45) * 60_000
                row = list(rows[i])
                row[6] = iso(skewed_ms)
                rows[i] = tuple(row)
                self.count(check)
            else:
                rows.extend(self.bad_reversal(a, rows[-1]))
        return rows

    def bad_reversal(self, a: int, last: Row) -> list[Row]:
        """One invalid reversal of each kind: missing target, wrong amount, reversed twice."""
        rng = self.rng
        iso = self.clock.iso
        base = _ms(last[6]) + 10
        cur = self.cur[a]
        out: list[Row] = []
        mode = self.injected.get("invalid_reversal", 0) % 3
        target, amount = self.last_id[a], self.last_amount[a]
        if mode == 0 or not target:
            rows = [(MISSING_TARGET + self.next_id, rng.randint(100, 900))]
        elif mode == 1:
            rows = [(target, amount + 100)]
        else:
            rows = [(target, amount), (target, amount)]  # the second reversal is the finding
            self.last_id[a] = 0
        for n, (target_id, target_amount) in enumerate(rows):
            entry_id = self.next_id
            self.next_id += 1
            self.bal[a] -= target_amount
            ms = base + n
            out.append(
                (entry_id, self.ids[a], -target_amount, cur, "reversal", iso(ms), iso(ms), None,
                 None, rng.choice(STAFF), "manual reversal", "req_" + self.hex(), target_id)
            )  # fmt: skip
        self.last_ms[a] = base + len(rows)
        self.last_id[a] = 0
        self.count("invalid_reversal")
        return out

    def accounts(self) -> Any:
        iso = self.clock.iso
        for a in range(self.n):
            updated = self.last_ms[a] or self.opened[a]
            stored = self.bal[a] + self.stored_delta.get(a, 0)
            yield (self.ids[a], self.cur[a], stored, iso(updated), iso(self.opened[a]))


def _ms(text: str) -> int:
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def existing_stamp(path: Path) -> str | None:
    """The parameters a demo ledger was built with; None if not a demo ledger (or none)."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT value FROM incidentbook_demo WHERE key = 'params'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def build_ledger(path: Path, params: LedgerParams, *, indexes: bool = True) -> BuildResult:
    """Build the demo ledger at ``path`` unless one with the same parameters is there.

    Written to a temporary file beside ``path`` and renamed into place: never half a ledger.
    A file at ``path`` that is not a demo ledger is refused, never overwritten.
    """

    stamp = params.stamp()
    if path.exists():
        current = existing_stamp(path)
        if current == stamp:
            if indexes:
                ensure_recommended_indexes(path)
            return BuildResult(path, built=False)
        if current is None:
            raise UsageError(f"{path} exists and is not an incidentbook demo ledger; not touched")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    gen = _Generator(params)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.executescript(SCHEMA)
        conn.execute("BEGIN")
        entries = 0
        for rows in gen.slices():
            conn.executemany(INSERT_ENTRY, rows)
            entries += len(rows)
        conn.executemany("INSERT INTO ledger_accounts VALUES (?,?,?,?,?)", gen.accounts())
        conn.execute(
            "INSERT INTO incidentbook_demo VALUES ('params', ?), ('injected', ?)",
            (stamp, repr(sorted(gen.injected.items()))),
        )
        conn.execute("COMMIT")
        if indexes:
            for statement in RECOMMENDED_INDEXES:
                conn.execute(statement)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    os.replace(tmp, path)
    return BuildResult(path, True, gen.n, entries, dict(gen.injected))


def _index_name(statement: str) -> str:
    return statement.split(" INDEX ", 1)[1].split(" ON ", 1)[0].strip()


def ensure_recommended_indexes(path: Path) -> list[str]:
    """Bring a demo ledger made by an older release to today's recommended indexes (a demo
    ledger is ours to write; a user's ledger never is). Returns the indexes (re)built."""
    wanted = {_index_name(s): s for s in RECOMMENDED_INDEXES}
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        have = {
            str(name): str(sql)
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name IN ('ledger_entries', 'ledger_accounts') AND sql IS NOT NULL"
            )
        }
        changed = [n for n, sql in wanted.items() if have.get(n) != sql]
        stale = [n for n in have if n not in wanted]
        if not changed and not stale:
            return []
        conn.execute("BEGIN")
        for name in stale + [n for n in changed if n in have]:
            conn.execute(f'DROP INDEX "{name}"')
        for name in changed:
            conn.execute(wanted[name])
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        return changed
    finally:
        conn.close()


def append_traffic(path: Path, count: int, *, seed: int = 99) -> int:
    """Record ``count`` new consistent entries (balance and entry in one transaction each
    batch), as a live ledger would: used by the incremental benchmark and tests."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        accounts = [r for r in conn.execute("SELECT account_id, currency FROM ledger_accounts")]
        (last_id,) = conn.execute(
            "SELECT COALESCE(MAX(entry_id), 0) FROM ledger_entries"
        ).fetchone()
        (last_at,) = conn.execute("SELECT MAX(recorded_at) FROM ledger_entries").fetchone()
        clock = _Clock()
        ms = _ms(last_at) + 1000 if last_at else int(datetime.now(UTC).timestamp() * 1000)
        conn.execute("BEGIN IMMEDIATE")
        for i in range(count):
            account, cur = accounts[rng.randrange(len(accounts))]
            amount = int(rng.lognormvariate(8.0, 1.2)) + 1
            ms += rng.randint(1, 200)
            at = clock.iso(ms)
            ref = f"evt_live_{seed}_{i}"
            conn.execute(
                INSERT_ENTRY,
                (last_id + i + 1, account, amount, cur, "payment", at, at, ref, "pay_" + ref,
                 "webhook:processor", "card payment captured", f"req_live_{seed}_{i}", None),
            )  # fmt: skip
            conn.execute(
                "UPDATE ledger_accounts SET balance_minor = balance_minor + ?, updated_at = ?"
                " WHERE account_id = ?",
                (amount, at, account),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return count


def _ledger_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def demo_step(services: Services, options: DemoOptions, report: DemoReport) -> None:
    """``incidentbook demo``: build the ledger (once per parameters), then reconcile it."""
    settings = services.settings
    url = settings.ledger_url
    path = _ledger_path(url)
    if path is None:
        report.add(f"ledger: {url} is not a SQLite file; demo ledger not built")
    else:
        now = settings.clock().astimezone(UTC)
        # anchor on the hour so a rerun in the same hour is the same ledger
        stamp_params = LedgerParams(
            accounts=options.accounts,
            days=options.days,
            seed=options.seed,
            end=now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
        )
        current = existing_stamp(path)
        if (
            current is not None
            and current.split(" end=")[0] == stamp_params.stamp().split(" end=")[0]
        ):
            report.add(f"ledger: kept {path} ({current.split(' end=')[0]})")
        else:
            built = build_ledger(path, stamp_params)
            report.add(
                f"ledger: built {path}: {built.accounts:,} accounts, {built.entries:,} entries, "
                f"injected {dict(sorted(built.injected.items()))}"
            )
    summary = services.reconciler.run(
        services.context("demo reconcile", actor="reconciler"),
        ReconcileOptions(),
    )
    found = ", ".join(f"{k} {v['found']}" for k, v in summary.checks.items() if v["found"])
    report.add(f"reconcile: run {summary.run_id}: {found or 'no findings'}")
