"""The event log's hash chain: every append links it, a healthy chain verifies, and each attack
on a copy of the state database (triggers dropped, rows changed, triggers put back) is caught
and located by seq; recorded heads catch truncation and rollback; two processes appending at
once make one chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from incidentbook.context import Context
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.core.events.chain import ChainReport, verify_chain
from incidentbook.core.events.model import CHAIN_COLUMNS, link_hash
from incidentbook.core.events.store import append
from incidentbook.core.health.verify import run_verify
from incidentbook.services import Services
from incidentbook.settings import Settings
from incidentbook.storage.db import Database
from tests.support.chain import (
    GENESIS,
    backup,
    expected_hash,
    independent_chain,
    rows,
    stored_chain,
    tampered,
)
from tests.support.cli import Cli


def _alert(fingerprint: str, status: str = "firing") -> NativeAlert:
    return NativeAlert.from_dict(
        {
            "source": "test",
            "name": "balance_mismatch",
            "fingerprint": fingerprint,
            "status": status,
            "severity": "critical",
            "starts_at": "2026-10-17T02:14:00Z",
            "labels": {"service": "webhooks", "note": "naïve ✓"},
        }
    )


def _seed(services: Services, ctx: Context) -> str:
    """Events through every append path: the ORM one, the alerts' batch and single ones."""
    iid = services.incidents.open(ctx, "Balances disagree", "critical").incident.id
    services.incidents.acknowledge(ctx, iid)
    services.incidents.add_note(ctx, iid, "looking at the consumer")
    services.alerts.ingest(ctx, [_alert("bm/a1"), _alert("bm/a2"), _alert("bm/a3")])
    with services.db.write() as session:
        services.alerts.ingest_in(session, ctx, _alert("bm/a1", "resolved"))
    services.incidents.add_note(ctx.because("handover"), iid, "paused the consumer")
    return iid


def _attack(services: Services, tmp_path: Path, *statements: str) -> ChainReport:
    """Run ``statements`` on a copy of the state database with the triggers dropped and put
    back; the copy's chain report."""
    copy = tmp_path / "attacked.sqlite"
    backup(services.db.path, copy)
    with tampered(copy) as conn:
        for sql in statements:
            conn.execute(sql)
    db = Database(copy)
    try:
        report = verify_chain(db)
        names = {r.name: r for r in run_verify(services.settings, db)}
        assert names["events_append_only"].ok  # the triggers are back: only the chain tells
        assert not names["event_chain"].ok
    finally:
        db.dispose()
    return report


def _count(path: Path) -> int:
    return len(rows(path))


# -- a healthy chain ------------------------------------------------------------------------


def test_every_append_path_links_the_chain(services: Services, ctx: Context) -> None:
    _seed(services, ctx)
    stored = stored_chain(services.db.path)
    # open, ack, note (ORM); three new alerts (a batch); one resolved (single); a note
    assert len(stored) == 8
    assert [s for s, _p, _h in stored] == list(range(1, len(stored) + 1))
    assert stored == independent_chain(services.db.path)
    assert stored[0][1] == GENESIS


def test_a_rolled_back_savepoint_leaves_no_gap(services: Services, ctx: Context) -> None:
    with services.db.write() as session:
        append(session, ctx, "test:a", "test.one")
        savepoint = session.begin_nested()
        append(session, ctx, "test:a", "test.dropped")
        savepoint.rollback()
        append(session, ctx, "test:a", "test.two")
    with pytest.raises(RuntimeError), services.db.write() as session:
        append(session, ctx, "test:a", "test.lost")
        raise RuntimeError
    with services.db.write() as session:
        append(session, ctx, "test:a", "test.three")
    assert [r["type"] for r in rows(services.db.path)] == ["test.one", "test.two", "test.three"]
    assert stored_chain(services.db.path) == independent_chain(services.db.path)
    assert [s for s, _p, _h in stored_chain(services.db.path)] == [1, 2, 3]


def test_a_healthy_chain_verifies_and_prints_its_head(
    services: Services, ctx: Context, cli: Cli
) -> None:
    _seed(services, ctx)
    truth = independent_chain(services.db.path)
    report = cli.json("verify")
    assert report["ok"] is True
    assert report["head_hash"] == truth[-1][2]
    assert report["events"] == len(truth)
    chain = next(c for c in report["checks"] if c["name"] == "event_chain")
    assert chain == {"name": "event_chain", "ok": True, "checked": len(truth), "problems": []}
    human = cli("verify")
    assert human.exit_code == 0
    assert f"head {truth[-1][2]} (seq {len(truth)}, {len(truth)} events)" in human.output


def test_an_empty_log_has_the_genesis_head(cli: Cli) -> None:
    report = cli.json("verify")
    assert report["head_hash"] == GENESIS and report["events"] == 0


# -- attacks, each caught and located ------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", '{"text":"nothing to see"}'),
        ("data", "not json at all"),
        ("actor", "user:someone-else"),
        ("reason", "made up"),
        ("correlation_id", "corr-forged"),
        ("event_id", "0" * 32),
        ("recorded_at", "2026-10-17T00:00:00.000000Z"),
        ("idempotency_key", "forged-key"),
        ("type", "incident.resolved"),
    ],
)
def test_an_edited_event_is_caught_at_its_seq(
    services: Services, ctx: Context, tmp_path: Path, column: str, value: str
) -> None:
    _seed(services, ctx)
    report = _attack(services, tmp_path, f"UPDATE events SET {column} = '{value}' WHERE seq = 3")
    assert report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (3, "content edited")


def test_an_event_rewritten_with_a_fresh_hash_breaks_the_next_link(
    services: Services, ctx: Context, tmp_path: Path
) -> None:
    _seed(services, ctx)
    row = rows(services.db.path)[2]  # seq 3
    forged = dict(row, data='{"text":"rewritten"}')
    digest = expected_hash(str(row["prev_hash"]), forged)
    report = _attack(
        services,
        tmp_path,
        f"UPDATE events SET data = '{forged['data']}', hash = '{digest}' WHERE seq = 3",
    )
    assert report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (4, "prev link broken")
    assert "seq 3" in report.broken.detail


def test_a_deleted_event_is_a_gap_at_its_seq(
    services: Services, ctx: Context, tmp_path: Path
) -> None:
    _seed(services, ctx)
    report = _attack(services, tmp_path, "DELETE FROM events WHERE seq = 3")
    assert report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (3, "gap")
    assert report.broken.detail == "seq 3 missing after seq 2 (events deleted)"
    first = _attack(services, tmp_path, "DELETE FROM events WHERE seq IN (1, 2)")
    assert first.broken is not None and (first.broken.seq, first.broken.kind) == (1, "gap")


def test_an_inserted_event_is_caught(services: Services, ctx: Context, tmp_path: Path) -> None:
    """A forged event put in at seq 4, properly chained onto seq 3, the later events
    renumbered: seq 5 (the old seq 4) still links to seq 3."""
    _seed(services, ctx)
    old = rows(services.db.path)
    forged = dict(old[3], seq=4, event_id="f" * 32, type="incident.resolved", data="{}")
    forged["idempotency_key"] = None
    digest = expected_hash(str(old[2]["hash"]), forged)
    n = len(old)
    report = _attack(
        services,
        tmp_path,
        f"UPDATE events SET seq = seq + {n} WHERE seq >= 4",
        f"UPDATE events SET seq = seq - {n} + 1 WHERE seq > {n}",
        "INSERT INTO events (seq, event_id, stream, type, data, actor, reason, correlation_id, "
        f"recorded_at, idempotency_key, prev_hash, hash) VALUES (4, '{forged['event_id']}', "
        f"'{forged['stream']}', 'incident.resolved', '{{}}', '{forged['actor']}', NULL, "
        f"'{forged['correlation_id']}', '{forged['recorded_at']}', NULL, "
        f"'{old[2]['hash']}', '{digest}')",
    )
    assert report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (5, "inserted")
    assert "seq 4 put in" in report.broken.detail


def test_an_event_appended_outside_the_chain_is_caught(
    services: Services, ctx: Context, tmp_path: Path
) -> None:
    _seed(services, ctx)
    n = _count(services.db.path)
    report = _attack(
        services,
        tmp_path,
        "INSERT INTO events (event_id, stream, type, data, actor, correlation_id, recorded_at) "
        "VALUES ('forged', 'incident:INC-0001', 'incident.resolved', '{}', 'user:x', 'c', 't')",
    )
    assert report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (n + 1, "no hash")


def test_reordered_events_are_caught(services: Services, ctx: Context, tmp_path: Path) -> None:
    _seed(services, ctx)
    report = _attack(
        services,
        tmp_path,
        "UPDATE events SET seq = -1 WHERE seq = 3",
        "UPDATE events SET seq = 3 WHERE seq = 4",
        "UPDATE events SET seq = 4 WHERE seq = -1",
    )
    assert report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (3, "reordered")
    assert "seq 4" in report.broken.detail


def test_a_truncated_chain_is_caught_by_a_recorded_head(
    services: Services, ctx: Context, tmp_path: Path, cli: Cli
) -> None:
    _seed(services, ctx)
    head = cli.json("verify")["head_hash"]
    n = _count(services.db.path)
    with tampered(services.db.path) as conn:
        conn.execute(f"DELETE FROM events WHERE seq > {n - 2}")
    proof = cli("verify", "--since-head", head)
    assert proof.exit_code == 1
    assert proof.output.strip() == (
        f"head {head[:12]} is not in the chain (rolled back or rewritten); "
        f"the chain now ends at seq {n - 2}"
    )


def test_verify_names_the_first_broken_seq_and_still_prints_the_head(
    services: Services, ctx: Context, cli: Cli
) -> None:
    _seed(services, ctx)
    head = independent_chain(services.db.path)[-1][2]
    with tampered(services.db.path) as conn:
        conn.execute("UPDATE events SET data = 'not json at all' WHERE seq = 3")
        conn.execute("UPDATE events SET actor = 'user:other' WHERE seq = 5")
    human = cli("verify")
    assert human.exit_code == 1
    assert "FAIL event_chain: 8 checked, 1 problems" in human.output
    assert (
        "     first broken event: seq 3: content edited: its content does not match its hash"
        in (human.output)
    )
    assert f"head {head} (seq 8, 8 events)" in human.output
    report = json.loads(cli("verify", "--json").stdout)
    assert report["ok"] is False and report["head_hash"] == head and report["events"] == 8


# -- verify --since-head --------------------------------------------------------------------


def test_since_head_proves_the_prefix_and_names_a_break(
    services: Services, ctx: Context, cli: Cli
) -> None:
    iid = _seed(services, ctx)
    head = cli.json("verify")["head_hash"]
    n = _count(services.db.path)
    services.incidents.add_note(ctx, iid, "later note")  # appends after the head are fine
    ok = cli("verify", "--since-head", head)
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == f"head {head[:12]} is seq {n}: every event up to it is unchanged"
    assert cli.json("verify", "--since-head", head.upper())["seq"] == n
    with tampered(services.db.path) as conn:
        conn.execute("UPDATE events SET reason = 'rewritten' WHERE seq = 2")
    broken = cli("verify", "--since-head", head)
    assert broken.exit_code == 1
    assert broken.output.strip() == (
        f"chain broken before head {head[:12]} (seq {n}): "
        "seq 2: content edited: its content does not match its hash"
    )
    assert cli("verify", "--since-head", GENESIS).exit_code == 0


def test_since_head_refuses_an_unknown_or_malformed_head(cli: Cli) -> None:
    unknown = cli("verify", "--since-head", "ab" * 32)
    assert unknown.exit_code == 1
    assert "is not in the chain (rolled back or rewritten)" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    bad = cli("verify", "--since-head", "abc")
    assert bad.exit_code == 2
    assert "64 hex digits" in bad.output


# -- postmortems record the head; a rollback is caught --------------------------------------


def test_a_postmortem_records_the_head_it_was_written_at(services: Services, ctx: Context) -> None:
    iid = _seed(services, ctx)
    before = independent_chain(services.db.path)
    path = services.postmortems.new(iid)
    text = path.read_text(encoding="utf-8")
    assert f"\nhead_hash: {before[-1][2]}\n" in text
    # the postmortem's own events come after it
    assert len(rows(services.db.path)) > len(before)
    results = {r.name: r for r in run_verify(services.settings, services.db)}
    assert results["recorded_heads"].ok and results["recorded_heads"].checked == 1


def test_a_rollback_of_the_state_database_fails_verify(
    services: Services, ctx: Context, tmp_path: Path, settings: Settings
) -> None:
    iid = _seed(services, ctx)
    old = tmp_path / "old-copy.sqlite"
    backup(services.db.path, old)
    services.incidents.add_note(ctx, iid, "written after the copy")
    path = services.postmortems.new(iid)
    assert all(r.ok for r in run_verify(settings, services.db))
    services.db.dispose()
    backup(old, services.db.path)  # restore the older copy over the state database
    results = {r.name: r for r in run_verify(settings, services.db)}
    assert results["event_chain"].ok  # the older chain is consistent in itself ...
    shown = path.relative_to(settings.workspace).as_posix()
    head = path.read_text(encoding="utf-8").split("head_hash: ")[1][:64]
    assert results["recorded_heads"].problems == [
        f"{shown}: head {head[:12]} is not in the chain (rolled back or rewritten); "
        f"the chain now ends at seq {_count(old)}"
    ]  # ... but lacks the head the postmortem recorded


def test_a_recorded_head_behind_a_break_fails_verify(
    services: Services, ctx: Context, settings: Settings
) -> None:
    iid = _seed(services, ctx)
    services.postmortems.new(iid)
    with tampered(services.db.path) as conn:
        conn.execute("UPDATE events SET actor = 'user:nobody' WHERE seq = 1")
    results = {r.name: r for r in run_verify(settings, services.db)}
    [problem] = results["recorded_heads"].problems
    assert "chain broken before head" in problem and "seq 1: content edited" in problem


# -- two processes appending at once --------------------------------------------------------

_WRITER = """
import sys
from pathlib import Path
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.services import make_services
from incidentbook.settings import Settings, read_config

workspace, who, iid, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = Settings(workspace=workspace, config=read_config(workspace), actor=f"user:{who}")
services = make_services(settings)
services.db.engine
print("ready", flush=True)
sys.stdin.readline()  # the parent says go once both writers are ready
for i in range(count):
    ctx = services.context(correlation_id=f"{who}-{i}")
    services.incidents.add_note(ctx, iid, f"note {i} from {who}")
    if i % 10 == 0:
        alert = {"source": "t", "name": "n", "fingerprint": f"{who}/{i}", "status": "firing",
                 "severity": "error", "starts_at": "2026-10-17T02:14:00Z"}
        services.alerts.ingest(ctx, [NativeAlert.from_dict(alert)])
print("done", flush=True)
"""


def test_two_processes_appending_at_once_make_one_chain(
    services: Services, ctx: Context, subprocess_env: dict[str, str]
) -> None:
    iid = services.incidents.open(ctx, "Concurrent writers", "error").incident.id
    before = _count(services.db.path)
    count = 120
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(services.settings.workspace), who, iid, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=subprocess_env,
        )
        for who in ("a", "b")
    ]
    for proc in writers:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in writers:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in writers:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.strip() == "done"
    every = rows(services.db.path)
    # each writer: its notes and one alert event per tenth note
    assert len(every) == before + 2 * (count + count // 10)
    assert [r["seq"] for r in every] == list(range(1, len(every) + 1))
    assert stored_chain(services.db.path) == independent_chain(services.db.path)
    assert {r["actor"] for r in every[before:]} == {"user:a", "user:b"}
    report = verify_chain(services.db)
    assert report.broken is None and report.events == len(every)
    assert json.loads(str(every[-1]["data"])) is not None


# -- the canonical form ---------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**62),
    values=st.lists(_text, min_size=7, max_size=7),
    optional=st.lists(st.none() | _text, min_size=3, max_size=3),
)
def test_link_hash_is_the_canonical_json_of_the_spec(
    seq: int, values: list[str], optional: list[str | None]
) -> None:
    """Any text (quotes, backslashes, control characters, non-ASCII) hashes as the spec's
    sorted, compact, UTF-8 JSON says, computed here with json itself."""
    event_id, stream, type_, data, actor, correlation_id, recorded_at = values
    reason, key, prev = optional
    row = {
        "seq": seq,
        "event_id": event_id,
        "stream": stream,
        "type": type_,
        "data": data,
        "actor": actor,
        "reason": reason,
        "correlation_id": correlation_id,
        "recorded_at": recorded_at,
        "idempotency_key": key,
    }
    assert link_hash(prev, tuple(row[c] for c in CHAIN_COLUMNS)) == expected_hash(prev, row)


def test_a_tampered_value_of_another_type_still_hashes() -> None:
    """SQLite keeps any type in any column: a number where text was hashes (differently)."""
    content = (1, "e", "s", "t", "{}", 42, None, "c", "r", None)
    text_content = (1, "e", "s", "t", "{}", "42", None, "c", "r", None)
    assert link_hash(GENESIS, content) != link_hash(GENESIS, text_content)
    assert link_hash(GENESIS, (1, "e", "s", "t", b"\x00", "a", None, "c", "r", None))
