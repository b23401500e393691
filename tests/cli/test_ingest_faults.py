"""``alerts ingest`` under poison lines (issue 16): in the default skip mode each bad line is a
skipped, line-numbered error and the good lines after it go in, and the run exits 1 saying how
many were skipped; ``--on-error abort`` is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli, event_count
from tests.support.payloads import am_alert, am_payload, pd_event

PREFIX = "incidentbook: error: "


def _native(fp: str, **over: Any) -> str:
    alert = {
        "source": "test",
        "name": "BalanceMismatch",
        "fingerprint": fp,
        "status": "firing",
        "severity": "error",
        "starts_at": "2026-10-17T02:00:00Z",
        "labels": {"account": "acc-1"},
    }
    alert.update(over)
    return json.dumps(alert)


POISON_NATIVE = {
    "5,000-digit integer": _native("bad").replace('"acc-1"', "9" * 5000),
    "deep nesting": '{"labels": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "lone surrogate": _native("bad").replace("acc-1", "\\ud800"),
    "year 9999 with an offset": _native("bad", starts_at="9999-12-31T23:59:59-05:00"),
    "year 1 with an offset": _native("bad", starts_at="0001-01-01T00:00:00+01:00"),
}


def _fingerprints(workspace: Path) -> list[str]:
    conn = sqlite3.connect(workspace / ".incidentbook" / "state.sqlite")
    try:
        return sorted(r[0] for r in conn.execute("SELECT fingerprint FROM alerts"))
    finally:
        conn.close()




def test_poison_lines_are_skipped_counted_and_the_rest_goes_in(
    cli: Cli, workspace: Path, tmp_path: Path
) -> None:
    lines = [_native("good-0")]
    for poison in POISON_NATIVE.values():
        lines.append(poison)
        lines.append(_native(f"good-{len(lines)}"))
    source = tmp_path / "alerts.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = cli("alerts", "ingest", str(source))
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.endswith("(skipped)")]
    assert [line.split(": ")[2] for line in skipped] == [f"line {n}" for n in (2, 4, 6, 8, 10)]
    assert result.stderr.splitlines()[-1] == (
        f"{PREFIX}{source}: 5 of 11 lines skipped (invalid)"
    )
    assert _fingerprints(workspace) == sorted(f"good-{n}" for n in (0, 2, 4, 6, 8, 10))
    # A clean re-run of the good lines alone is still exit 0.
    clean = tmp_path / "clean.jsonl"
    clean.write_text(_native("good-0") + "\n")
    assert cli("alerts", "ingest", str(clean)).exit_code == 0


def test_skipped_lines_under_json_exit_1_with_the_report_on_stdout(
    cli: Cli, tmp_path: Path
) -> None:
    source = tmp_path / "alerts.jsonl"
    source.write_text(POISON_NATIVE["lone surrogate"] + "\n" + _native("ok") + "\n")
    result = cli("alerts", "ingest", str(source), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["new"] == 1 and [s["line"] for s in report["skipped"]] == [1]
    assert json.loads(result.stderr.splitlines()[-1]) == {
        "error": f"{source}: 1 of 2 lines skipped (invalid)",
        "exit_code": 1,
    }


@pytest.mark.parametrize("case", list(POISON_NATIVE))
def test_on_error_abort_is_one_line_and_writes_nothing(
    cli: Cli, workspace: Path, tmp_path: Path, case: str
) -> None:
    source = tmp_path / "alerts.jsonl"
    source.write_text(_native("ok") + "\n" + POISON_NATIVE[case] + "\n")
    assert cli("alerts", "list").exit_code == 0  # the state database exists
    before = event_count(workspace)
    result = cli("alerts", "ingest", str(source), "--on-error", "abort")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(PREFIX), result.stderr
    assert "line 2: " in result.stderr and "nothing ingested" in result.stderr
    assert event_count(workspace) == before and _fingerprints(workspace) == []


HOSTILE_TIMES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00")


@pytest.mark.parametrize("when", HOSTILE_TIMES)
@pytest.mark.parametrize("fmt", ["alertmanager", "pagerduty"])
def test_sender_formats_with_a_hostile_timestamp(
    cli: Cli, workspace: Path, tmp_path: Path, fmt: str, when: str
) -> None:
    if fmt == "alertmanager":
        bad = json.dumps(am_payload(am_alert("bad", startsAt=when)))
        good = json.dumps(am_payload(am_alert("good")))
        field = "alerts[0].startsAt"
    else:
        event = pd_event(dedup_key="bad")
        event["payload"]["timestamp"] = when
        bad, good, field = json.dumps(event), json.dumps(pd_event(dedup_key="good")), (
            "payload.timestamp"
        )
    source = tmp_path / f"{fmt}.jsonl"
    source.write_text(bad + "\n" + good + "\n")
    result = cli("alerts", "ingest", str(source), "--format", fmt)
    assert result.exit_code == 1, result.output
    assert f"line 1: {field}:" in result.stderr and "internal error" not in result.stderr
    assert _fingerprints(workspace) == ["good"]
    aborted = cli("alerts", "ingest", str(source), "--format", fmt, "--on-error", "abort")
    assert aborted.exit_code == 2 and aborted.stderr.count("\n") == 1, aborted.stderr
    assert f"line 1: {field}:" in aborted.stderr
