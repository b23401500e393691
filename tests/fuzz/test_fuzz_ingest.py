"""``alerts ingest`` on files that mix good and poison lines, in every ``--format`` (issue 16):
the real CLI on a fresh real workspace. In skip mode the exit is 0 iff no line was bad, else 1
with the count named and every bad line's number; in abort mode a bad line is one error line,
exit 2, nothing written; never an internal error; exactly the good lines are stored (the truth
comes from the generator); a re-run changes nothing; the log is clean and ``verify`` green."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.cli import Cli, event_count
from tests.support.fuzz import (
    LONE_SURROGATES,
    fresh_services,
    fuzz_settings,
    log_problems,
    verify_problems,
)
from tests.support.payloads import am_alert, am_payload, pd_event

PREFIX = "incidentbook: error: "
FORMATS = ("native", "alertmanager", "pagerduty", "pagerduty-change")
# Text that is valid anywhere (no lone surrogates): what a good line may carry.
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=15)
TIMES = st.sampled_from(
    ["2026-10-17T02:00:00Z", "2026-10-17T04:00:00+02:00", "2026-10-17T02:14:08.123456789Z",
     "9999-12-31T23:59:59Z", "0001-01-01T01:00:00+01:00"]
)  # fmt: skip


@dataclass(frozen=True)
class Line:
    text: str
    keys: tuple[str, ...]  # what a good line stores (fingerprints, or a change's summary)
    bad: bool


def _good(fmt: str, n: int, extra: str, when: str) -> tuple[Any, tuple[str, ...]]:
    key = f"g{n}-{extra}"
    if fmt == "native":
        alert = {"source": "test", "name": "BalanceMismatch", "fingerprint": key,
                 "status": "firing", "severity": "error", "starts_at": when,
                 "labels": {"account": extra, extra: "x"}, "summary": extra}  # fmt: skip
        return alert, (key,)
    if fmt == "alertmanager":
        keys = (key, key + "/b")
        alerts = [am_alert(k, startsAt=when, labels={"alertname": extra or "A"}) for k in keys]
        return am_payload(*alerts), keys
    if fmt == "pagerduty":
        event = pd_event(dedup_key=key)
        event["payload"]["timestamp"] = when
        event["payload"]["summary"] = extra or "s"
        return event, (key,)
    change = {"routing_key": "R", "payload": {"summary": key, "source": "deploy",
                                              "timestamp": when}}  # fmt: skip
    return change, (key,)


POISONS = ("surrogate", "huge", "deep", "late", "early", "type", "missing", "syntax", "nan")


def _bad(fmt: str, base: Any, poison: str, surrogate: str) -> str:
    text = json.dumps(base)
    target = {"native": "fingerprint", "alertmanager": "fingerprint",
              "pagerduty": "summary", "pagerduty-change": "summary"}[fmt]  # fmt: skip
    key = json.dumps(target) + ": "
    head, sep, tail = text.partition(key)
    assert sep, (fmt, text)
    value, rest = tail.split('"', 2)[1], tail.split('"', 2)[2]
    if poison == "surrogate":
        return head + key + json.dumps(value + surrogate) + rest
    if poison == "huge":
        return head + key + "9" * 5000 + rest
    if poison == "deep":
        return head + key + "[" * 50_000 + "]" * 50_000 + rest
    if poison == "nan":
        return head + key + "NaN" + rest
    if poison == "type":
        return head + key + "[1, 2]" + rest
    if poison == "missing":
        return head + key + '""' + rest
    if poison == "syntax":
        return text[: len(text) // 2]
    when = "9999-12-31T23:59:59-05:00" if poison == "late" else "0001-01-01T00:00:00+01:00"
    for name in ("starts_at", "startsAt", "timestamp"):
        text = text.replace(f'"{name}": "', f'"{name}": "{when}", "x_{name}": "')
    return text


@st.composite
def ingest_file(draw: st.DrawFn) -> tuple[str, list[Line | None]]:
    fmt = draw(st.sampled_from(FORMATS))
    lines: list[Line | None] = []  # None: a blank line
    for n in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["good", "good", "bad", "blank", "again"]))
        goods = [x for x in lines if x is not None and not x.bad]
        if kind == "blank":
            lines.append(None)
        elif kind == "again" and goods:  # the same line twice: one occurrence (its receipt)
            lines.append(draw(st.sampled_from(goods)))
        else:
            base, keys = _good(fmt, n, draw(TEXT), draw(TIMES))
            if kind == "bad":
                poison = draw(st.sampled_from(POISONS))
                text = _bad(fmt, base, poison, draw(LONE_SURROGATES))
                lines.append(Line(text, (), True))
            else:
                lines.append(Line(json.dumps(base, ensure_ascii=draw(st.booleans())), keys, False))
    return fmt, lines


def _stored(workspace: Path, fmt: str) -> set[str]:
    db = workspace / ".incidentbook" / "state.sqlite"
    if not db.exists():
        return set()
    conn = sqlite3.connect(db)
    try:
        if fmt == "pagerduty-change":
            return {r[0] for r in conn.execute("SELECT summary FROM changes")}
        return {r[0] for r in conn.execute("SELECT fingerprint FROM alerts")}
    finally:
        conn.close()


@fuzz_settings(max_examples=30, deadline=30_000)
@given(case=ingest_file(), abort=st.booleans())
@example(case=("native", [Line('{"x": ' + "9" * 5000 + "}", (), True)]), abort=False)
@example(case=("alertmanager", [Line("[]", (), False)]), abort=False)  # an empty API listing
# a trailing blank line was not counted in "N of M lines" (change events counted it)
@example(case=("native", [Line("{", (), True), None]), abort=False)
def test_ingest_stores_exactly_the_good_lines(
    case: tuple[str, list[Line | None]], abort: bool, tmp_path: Path
) -> None:
    fmt, lines = case
    with fresh_services() as services:
        workspace = services.settings.workspace
        source = tmp_path / f"{fmt}-{abs(hash(str(lines)))}.jsonl"
        source.write_text("".join((x.text if x else "  ") + "\n" for x in lines), "utf-8")
        cli = Cli(workspace)
        args = ["alerts", "ingest", str(source), "--format", fmt]
        result = cli(*args, *(["--on-error", "abort"] if abort else []))
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        numbered = [(i, x) for i, x in enumerate(lines, start=1) if x is not None]
        bad = [i for i, x in numbered if x.bad]
        good = {k for _i, x in numbered if not x.bad for k in x.keys}
        if not bad:
            assert result.exit_code == 0, result.output
            assert _stored(workspace, fmt) == good
        elif abort:
            assert result.exit_code == 2, result.output
            assert result.stderr.count("\n") == 1 and result.stderr.startswith(PREFIX)
            assert f"line {bad[0]}: " in result.stderr and "nothing ingested" in result.stderr
            assert _stored(workspace, fmt) == set() and event_count(workspace) == 0
        else:
            assert result.exit_code == 1, result.output
            total = len(lines)  # every line of the file, blank ones too
            assert result.stderr.splitlines()[-1] == (
                f"{PREFIX}{source}: {len(bad)} of {total} lines skipped (invalid)"
            )
            named = [line.split(": ")[2] for line in result.stderr.splitlines()
                     if line.endswith("(skipped)")]  # fmt: skip
            assert named == [f"line {i}" for i in bad]
            assert _stored(workspace, fmt) == good
        # A re-run of the same file writes nothing new.
        before = event_count(workspace)
        again = cli(*args, *(["--on-error", "abort"] if abort else []))
        assert again.exit_code == result.exit_code
        assert event_count(workspace) == before
        assert log_problems(services.settings.logs_dir) == []
        assert verify_problems(services) == []
