"""The whole 2 a.m. path in a real terminal (tmux, 100x30, the resolve dialog at 80x24), by keys
alone, reading the pane at each step (issue 14): Triage, the reconciler's duplicate_posting
group acknowledged into an incident, a note, the affected accounts and one account's audit
trail, the fix forward (plan, dry run, apply, reconcile now), resolve with a reason, the
postmortem and its HTML export. The end state is then read back with the CLI and the
ledger's own rows."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import REPO_ROOT, venv_bin
from tests.support.terminal import Tmux

pytestmark = pytest.mark.slow

GROUP = "duplicate_posting"
NOTE = "Retry path posts without an idempotency check"
REASON = "duplicates reversed by the fix, reconcile clean"


@dataclass(frozen=True)
class Duplicates:
    """The seed scenario read straight from the ledger's rows: per account, how much its
    repeated upstream payments added (the copies after the first) and how many copies."""

    delta: dict[str, int]
    copies: dict[str, int]


def duplicates(ledger: Path) -> Duplicates:
    conn = sqlite3.connect(ledger)
    try:
        rows = conn.execute(
            "SELECT account_id, SUM(amount_minor) - MIN(amount_minor), COUNT(*) - 1"
            " FROM ledger_entries WHERE kind = 'payment' AND external_ref IS NOT NULL"
            " GROUP BY account_id, external_ref HAVING COUNT(*) > 1"
        ).fetchall()
    finally:
        conn.close()
    delta: dict[str, int] = {}
    copies: dict[str, int] = {}
    for account, extra, n in rows:
        delta[account] = delta.get(account, 0) + int(extra)
        copies[account] = copies.get(account, 0) + int(n)
    return Duplicates(delta, copies)


def stored_and_derived(ledger: Path, account: str) -> tuple[int, int]:
    conn = sqlite3.connect(ledger)
    try:
        (stored,) = conn.execute(
            "SELECT balance_minor FROM ledger_accounts WHERE account_id = ?", (account,)
        ).fetchone()
        (derived,) = conn.execute(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries WHERE account_id = ?",
            (account,),
        ).fetchone()
    finally:
        conn.close()
    return int(stored), int(derived)


def reversals_of_duplicates(ledger: Path, account: str) -> int:
    """Reversal entries on ``account`` whose target is a repeated copy of a payment."""
    conn = sqlite3.connect(ledger)
    try:
        (n,) = conn.execute(
            "SELECT COUNT(*) FROM ledger_entries r JOIN ledger_entries p"
            " ON r.reverses_entry_id = p.entry_id"
            " WHERE r.account_id = ? AND r.kind = 'reversal' AND p.kind = 'payment'"
            " AND p.external_ref IN (SELECT external_ref FROM ledger_entries"
            "   WHERE account_id = ? AND kind = 'payment' AND external_ref IS NOT NULL"
            "   GROUP BY external_ref HAVING COUNT(*) > 1)",
            (account, account),
        ).fetchone()
    finally:
        conn.close()
    return int(n)


def cells(screen: str) -> set[str]:
    """Every piece of text between the pane's box-drawing and focus-bar characters."""
    return {part.strip() for line in screen.splitlines() for part in re.split(r"[│┃▊▎▏▌]", line)}


def group_row(screen: str, group: str) -> int:
    """Where ``group`` is in the pane's alert-group table (0 for its first row)."""
    lines = screen.splitlines()
    header = next(i for i, line in enumerate(lines) if "Group" in line and "Δ" in line)
    rows = [re.split(r"[│┃]", line)[0].strip("▊ ") for line in lines[header + 1 :]]
    return next(i for i, row in enumerate(rows) if row.startswith(group + " "))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([venv_bin("incidentbook"), *args], capture_output=True, text=True)


@pytest.fixture
def demo_workspace(tmp_path: Path) -> Path:
    """The demo workspace as ``make run`` builds it (init, then demo), smaller."""
    workspace = tmp_path / "demo"
    for args in (
        ("init", str(workspace)),
        ("--workspace", str(workspace), "demo", "--accounts", "2000", "--days", "3"),
    ):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
    return workspace


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    terminal = Tmux(100, 30)
    yield terminal
    terminal.close()


def test_the_2am_path_by_keys_alone(demo_workspace: Path, tmux: Tmux) -> None:
    ws = demo_workspace
    ledger = ws / ".incidentbook" / "ledger.sqlite"
    truth = duplicates(ledger)
    assert truth.delta, "the demo ledger has no repeated payments to walk through"
    largest = max(truth.delta, key=lambda a: abs(truth.delta[a]))

    app = shlex.join([venv_bin("incidentbook"), "--workspace", str(ws)])
    tmux.start(f"{app}; echo APP-EXITED-$?; sleep 120", cwd=REPO_ROOT)

    # Triage: the reconciler's duplicate_posting group, selected with g/j alone.
    screen = tmux.wait_for("Alert groups (firing)", GROUP, "Open incidents")
    tmux.keys("g", *["j"] * group_row(screen, GROUP))
    screen = tmux.wait_until(lambda s: GROUP in cells(s), f"{GROUP} selected")
    assert "none yet" in screen  # no incident for it before the acknowledgement

    # a: the confirm dialog; enter: the group becomes an acknowledged incident.
    tmux.keys("a")
    tmux.wait_for(f"Acknowledge group {GROUP}?", "enter: yes")
    tmux.keys("Enter")
    screen = tmux.wait_until(
        lambda s: re.search(r"incident: INC-\d+", s) is not None, "the group's incident"
    )
    match = re.search(r"incident: (INC-\d+)", screen)
    assert match is not None
    iid = match.group(1)
    tmux.wait_for(iid, "acknowledged")

    # enter: the incident.
    tmux.keys("Enter")
    tmux.wait_for("Timeline", f"{iid}", "status acknowledged", "s Severity")

    # n, a note, enter: it is on the timeline and the field keeps the focus (the footer of
    # a focused text field has no letter bindings); escape leaves it.
    tmux.keys("n")
    tmux.wait_for("esc Back", absent=["s Severity"])
    tmux.type(NOTE)
    tmux.keys("Enter")
    tmux.wait_for("1 note", "note: Retry path", absent=["s Severity"])
    tmux.keys("Escape")  # out of the note field, onto the timeline
    tmux.wait_for("s Severity", "p Postmortem")

    # A: the affected accounts, largest delta first; enter: that account's audit trail.
    tmux.keys("A")
    screen = tmux.wait_for(f"Affected: {iid}", *truth.delta)
    assert screen.index(largest) < min(
        (screen.index(a) for a in truth.delta if a != largest), default=len(screen)
    ), "the largest delta is not first"
    tmux.keys("Enter")
    tmux.wait_for("difference", f"{largest}@", "History")
    tmux.keys("Escape")
    tmux.wait_for("Timeline", "status acknowledged", "1 note")

    # F: the fix forward's plan; d: a dry run; x, enter: apply; R: reconcile now.
    tmux.keys("F")
    tmux.wait_for(f"for {iid}", "d: dry run")
    tmux.keys("d")
    tmux.wait_for("dry run, nothing written")
    tmux.keys("x")
    tmux.wait_for("to the ledger?", "enter: yes")
    tmux.keys("Enter")
    tmux.wait_for("applied:", f"{len(truth.delta)} of {len(truth.delta)}")
    tmux.keys("R")
    screen = tmux.wait_until(
        lambda s: re.search(rf"{GROUP}\s+found\s+0\b", s) is not None,
        f"reconcile now finding no {GROUP}",
        timeout=120,
    )
    assert "findings in" in screen
    tmux.keys("Escape")  # the reconcile screen
    tmux.wait_for("applied:")
    tmux.keys("Escape")  # the fix screen
    tmux.wait_for("Timeline", "status acknowledged")

    # r at 80x24: the dialog says nothing fires any more; a reason, enter: resolved.
    tmux.resize(80, 24)
    tmux.keys("r")
    tmux.wait_for(f"Resolve {iid}?", "No reconciler finding", "enter: resolve")
    tmux.type(REASON)
    tmux.keys("Enter")
    tmux.wait_for("status resolved", absent=[f"Resolve {iid}?"])
    tmux.resize(100, 30)
    # a key sent while the app redraws for the new size can be lost: wait for the redraw
    tmux.wait_until(lambda s: max(map(len, s.splitlines())) > 80, "the 100-column layout")

    # p: the postmortem, created from the template; f9: exported to HTML.
    tmux.keys("p")
    tmux.wait_for("kind: postmortem", f"incident: {iid}", "saved")
    tmux.keys("F9")
    tmux.wait_for("exported")

    # escape back to Triage: the incident is no longer open; q quits.
    tmux.keys("Escape")
    tmux.wait_for("Timeline", "status resolved")
    tmux.keys("Escape")
    tmux.wait_for("Alert groups (firing)", "No open incidents")
    tmux.keys("q")
    tmux.wait_for("APP-EXITED-0")

    # The state, read back with the CLI and from the ledger's rows.
    shown = run_cli("--workspace", str(ws), "incident", "show", iid, "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["incident"]["status"] == "resolved"
    assert data["incident"]["group_key"] == GROUP
    assert data["incident"]["notes_count"] == 1
    events = {e["type"]: e for e in data["timeline"]}
    assert events["incident.note_added"]["data"]["text"] == NOTE
    assert events["incident.resolved"]["reason"] == REASON
    assert "incident.resolved" in events and "incident.postmortem_started" in events
    pages = list((ws / "postmortems").glob(f"{iid}-*.html"))
    assert len(pages) == 1, pages
    assert NOTE in pages[0].read_text(encoding="utf-8")
    for account, copies in truth.copies.items():
        stored, derived = stored_and_derived(ledger, account)
        assert stored == derived, account
        assert reversals_of_duplicates(ledger, account) == copies, account
    verified = run_cli("--workspace", str(ws), "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
