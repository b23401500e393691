"""PagerDuty change events (``POST /v2/change/enqueue``) on the real receiver: stored once as
their own kind, searchable, listed by ``changes list``, ingested from JSON lines; a change
without summary or source is a 400 naming the field, and writes nothing."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from incidentbook.core.health.verify import run_verify
from incidentbook.receiver.app import create_app
from incidentbook.services import Services
from tests.support.cli import Cli
from tests.support.receiver import AUTH, TOKEN, LiveServer

CHANGE = "/v2/change/enqueue"


def change_event(**over: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": TOKEN,
        "payload": {
            "summary": "api v2 deployed",
            "source": "deploy-bot",
            "timestamp": "2026-10-17T01:55:00.000+0000",
            "custom_details": {"build": 412, "commit": "9f1c2e"},
        },
        "links": [{"href": "https://ci.example/builds/412", "text": "build 412"}],
    }
    event.update(over)
    return event


@pytest.fixture
def client(services: Services) -> Iterator[httpx.Client]:
    app = create_app(services, token=TOKEN, max_body_bytes=64 * 1024)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as test_client:
        yield test_client


def _rows(services: Services, table: str) -> int:
    services.db.engine  # noqa: B018 - make sure the schema exists
    conn = sqlite3.connect(services.db.path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_change_event_is_202_stored_once_and_searchable(
    client: httpx.Client, services: Services, cli: Cli
) -> None:
    first = client.post(CHANGE, json=change_event())
    assert first.status_code == 202, first.text
    assert first.json() == {"status": "success", "message": "Change event processed"}
    # A replay of the identical event (also with a bearer token instead) is the same change.
    replay = change_event(routing_key="other")
    again = client.post(CHANGE, json=replay, headers=AUTH)
    assert again.status_code == 202
    other = copy.deepcopy(change_event())
    other["payload"]["summary"] = "feature flag fees_v2 on"
    other["payload"]["timestamp"] = "2026-10-17T02:10:00Z"
    assert client.post(CHANGE, json=other).status_code == 202
    assert _rows(services, "changes") == 2

    listed = cli.json("changes", "list")
    assert [(c["summary"], c["at"], c["source"]) for c in listed] == [
        ("api v2 deployed", "2026-10-17T01:55:00.000000Z", "deploy-bot"),
        ("feature flag fees_v2 on", "2026-10-17T02:10:00.000000Z", "deploy-bot"),
    ]
    assert listed[0]["links"] == [{"href": "https://ci.example/builds/412", "text": "build 412"}]
    assert listed[0]["custom_details"] == {"build": "412", "commit": "9f1c2e"}
    assert listed[0]["actor"] == "webhook:pagerduty"
    since = cli.json("changes", "list", "--since", "2026-10-17T02:00:00Z")
    assert [c["summary"] for c in since] == ["feature flag fees_v2 on"]
    human = cli("changes", "list")
    assert "api v2 deployed" in human.stdout and "build 412: https://ci.example" in human.stdout

    found = cli.json("search", "fees_v2 kind:change")
    assert [(h["kind"], h["id"]) for h in found["hits"]] == [("change", listed[1]["id"])]
    assert all(r.ok for r in run_verify(services.settings, services.db))


@pytest.mark.parametrize("missing", ["summary", "source"])
def test_change_without_summary_or_source_is_400_naming_it(
    client: httpx.Client, services: Services, missing: str
) -> None:
    event = change_event()
    event["payload"].pop(missing)
    response = client.post(CHANGE, json=event)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert body["errors"] == [f"payload.{missing}: is required"]
    assert _rows(services, "changes") == 0 and _rows(services, "events") == 0


def test_bad_since_is_one_line_exit_2(cli: Cli) -> None:
    result = cli("changes", "list", "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "incidentbook: error: --since 'yesterday-ish' is not an ISO time (like 2026-10-17T01:00Z)"
    ]


def test_alerts_ingest_pagerduty_change_lines(cli: Cli, tmp_path: Path, services: Services) -> None:
    good = change_event()
    good.pop("routing_key")  # optional in a file
    bad = change_event()
    bad["payload"].pop("source")
    path = tmp_path / "changes.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in (good, bad, good)) + "\n")
    first = cli("alerts", "ingest", str(path), "--format", "pagerduty-change", "--json")
    assert first.exit_code == 1, first.output  # a skipped line is a finding (issue 16)
    report = json.loads(first.stdout)
    assert (report["lines"], report["new"], report["replayed"]) == (3, 1, 1)
    assert report["skipped"] == [{"line": 2, "errors": ["payload.source: is required"]}]
    assert "line 2: payload.source: is required (skipped)" in first.stderr
    rerun = cli("alerts", "ingest", str(path), "--format", "pagerduty-change", "--json")
    assert rerun.exit_code == 1
    again = json.loads(rerun.stdout)
    assert (again["new"], again["replayed"]) == (0, 2)
    assert _rows(services, "changes") == 1
    aborted = cli("alerts", "ingest", str(path), "--format", "pagerduty-change",
                  "--on-error", "abort")  # fmt: skip
    assert aborted.exit_code == 2
    assert aborted.stderr == (
        f"incidentbook: error: {path}: nothing ingested (--on-error abort): "
        "line 2: payload.source: is required\n"
    )
