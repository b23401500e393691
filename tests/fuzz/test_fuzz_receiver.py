"""The receiver's two alert endpoints under hostile requests (issue 16), in process against the
real app on a real workspace: Alertmanager's webhook and PagerDuty's Events v2 enqueue, with
valid payload shapes mixed with poison values (lone surrogates, integers of thousands of digits,
deep nesting, odd timestamps and offsets, wrong types, missing fields, huge strings, copies of
one fingerprint) and good and bad credentials.

Every request answers a status the design allows (never a 500); the JSON-lines log holds no
traceback; ``verify`` is green after every case; a refusal writes nothing; and the stored
alerts are exactly the fingerprints of the accepted payloads, each created once, as the test
computes from what it sent. A payload the generator built clean is accepted."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from incidentbook.obs import configure_logging, reset_logging
from incidentbook.receiver.app import create_app
from incidentbook.services import Services
from tests.support.fuzz import (
    HUGE_DIGITS,
    LONE_SURROGATES,
    ODD_TIMES,
    fresh_services,
    fuzz_settings,
    log_problems,
    verify_problems,
)
from tests.support.payloads import am_alert, am_payload, pd_event
from tests.support.receiver import AM, PD, PD_NATIVE, TOKEN, write_counts

MAX_BODY = 64 * 1024
FINGERPRINTS = ("f0", "f1", "f2")
# One instant written three ways, and two more: copies keyed by (fingerprint, startsAt).
CLEAN_TIMES = (
    "2026-10-17T02:14:08Z",
    "2026-10-17T04:14:08+02:00",
    "2026-10-16T21:14:08-05:00",
    "2026-10-17T02:14:08.123456789Z",
    "2026-10-17T03:00:00.5+00:00",
)


def _instant(text: str) -> datetime:
    """The test's own reading of an RFC 3339 time (to the microsecond, as stored)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# -- poison ------------------------------------------------------------------------------

_SENTINEL = "\x01poison{}\x01"


@dataclass
class Body:
    """A JSON value to send, with poison spliced into the text where json.dumps cannot write
    it (integers of thousands of digits, nesting past any limit, NaN)."""

    value: Any
    splices: dict[str, str] = field(default_factory=dict)

    def poison(self, raw: str) -> str:
        marker = _SENTINEL.format(len(self.splices))
        self.splices[json.dumps(marker)] = raw
        return marker

    def encode(self) -> bytes:
        text = json.dumps(self.value)  # ensure_ascii: a lone surrogate goes as "\ud800"
        for marker, raw in self.splices.items():
            text = text.replace(marker, raw)
        return text.encode("utf-8")


SPLICED = st.one_of(
    HUGE_DIGITS,
    st.integers(40, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(40, 200).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "1" + "0" * 19]),
)
PLAIN_POISON = st.one_of(
    LONE_SURROGATES,
    ODD_TIMES,
    st.integers(min_value=2**63, max_value=2**80),
    st.integers(max_value=-(2**63) - 1, min_value=-(2**80)),
    st.sampled_from([None, True, 0, -1, 1.5, "", [], {}, [1, "a"], {"k": []}, "firing"]),
    st.text(max_size=20),
    st.integers(300, 100_000).map(lambda n: "x" * n),
)


@st.composite
def poison_value(draw: st.DrawFn, body: Body) -> Any:
    if draw(st.booleans()):
        return body.poison(draw(SPLICED))
    return draw(PLAIN_POISON)


# -- Alertmanager ------------------------------------------------------------------------


@dataclass
class Case:
    route: str
    body: Body
    headers: dict[str, str]
    authorized: bool
    clean: bool  # built from valid values only: must be accepted when authorized
    alerts: list[dict[str, Any]] = field(default_factory=list)  # AM: the alerts sent
    pd: dict[str, Any] | None = None  # PD: the event sent


GOOD_AUTH = ({"Authorization": f"Bearer {TOKEN}"}, True)
AUTH_HEADERS = st.sampled_from(
    [
        GOOD_AUTH,
        GOOD_AUTH,
        GOOD_AUTH,
        GOOD_AUTH,
        ({"Authorization": f"bearer  {TOKEN} "}, True),
        ({}, False),
        ({"Authorization": "Bearer wrong"}, False),
        ({"Authorization": f"Basic {TOKEN}"}, False),
        ({"Authorization": f"Bearer {TOKEN}x"}, False),
        ({"Authorization": "Bearer"}, False),
    ]
)
MUTATIONS = st.sampled_from([0, 0, 1, 1, 2, 3])  # how many poison values a case carries
CONTENT_TYPES = st.sampled_from(
    [{"Content-Type": "application/json"}, {"Content-Type": "text/plain"}, {}]
)


@st.composite
def am_case(draw: st.DrawFn) -> Case:
    alerts = []
    for _ in range(draw(st.integers(0, 5))):
        status = draw(st.sampled_from(["firing", "resolved"]))
        alerts.append(
            am_alert(
                draw(st.sampled_from(FINGERPRINTS)),
                status=status,
                startsAt=draw(st.sampled_from(CLEAN_TIMES)),
                endsAt="2026-10-17T05:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            )
        )
    payload = am_payload(*alerts) if alerts else am_payload(alerts=[])
    body = Body(payload)
    originals = list(payload["alerts"])  # poison may replace the list itself
    clean = True
    for _ in range(draw(MUTATIONS)):
        clean = False
        where = draw(st.sampled_from(["top", "alert", "label", "drop"]))
        if where == "top":
            key = draw(st.sampled_from(["version", "truncatedAlerts", "status", "groupKey",
                                        "groupLabels", "alerts", "receiver", "extra"]))  # fmt: skip
            payload[key] = draw(poison_value(body))
        elif where == "drop":
            target = draw(st.sampled_from([payload, *originals]))
            if target:
                target.pop(draw(st.sampled_from(sorted(target))), None)
        elif originals:
            alert = draw(st.sampled_from(originals))
            if where == "alert":
                key = draw(st.sampled_from(["fingerprint", "startsAt", "endsAt", "status",
                                            "labels", "annotations"]))  # fmt: skip
                alert[key] = draw(poison_value(body))
            elif isinstance(alert.get("labels"), dict):
                alert["labels"][draw(st.sampled_from(["account", "severity", "alertname"]))] = (
                    draw(poison_value(body))
                )
    if draw(st.integers(0, 9)) == 0:  # not a JSON object at all
        clean = False
        body = Body(None)
        body.value = body.poison(draw(st.sampled_from(["", "{", "[]", "null", '"x"', "\xff"])))
    headers, authorized = draw(AUTH_HEADERS)
    sent = payload.get("alerts")
    alerts = [a for a in sent if isinstance(a, dict)] if isinstance(sent, list) else []
    return Case(AM, body, {**headers, **draw(CONTENT_TYPES)}, authorized, clean, alerts=alerts)


# -- PagerDuty ---------------------------------------------------------------------------


@st.composite
def pd_case(draw: st.DrawFn) -> Case:
    action = draw(st.sampled_from(["trigger", "trigger", "acknowledge", "resolve"]))
    event = pd_event(event_action=action, dedup_key=draw(st.sampled_from(FINGERPRINTS)))
    event["payload"]["timestamp"] = draw(st.sampled_from(CLEAN_TIMES))
    if action == "trigger" and draw(st.integers(0, 4)) == 0:
        del event["dedup_key"]  # a generated key, returned to the sender
    in_body = draw(st.booleans())
    event["routing_key"] = TOKEN if in_body else "R0UT1NGKEY"
    headers: dict[str, str] = {}
    authorized = in_body
    if not in_body:
        headers, authorized = draw(AUTH_HEADERS)
    if in_body and draw(st.integers(0, 5)) == 0:
        event["routing_key"] = draw(st.sampled_from([TOKEN + "x", "", None, 7, "\ud800"]))
        authorized = False
    body = Body(event)
    clean = True
    for _ in range(draw(MUTATIONS)):
        clean = False
        where = draw(st.sampled_from(["top", "payload", "details", "drop"]))
        if where == "top":
            key = draw(st.sampled_from(["event_action", "dedup_key", "payload", "links",
                                        "images", "client", "client_url"]))  # fmt: skip
            event[key] = draw(poison_value(body))
        elif where == "drop":
            target = draw(st.sampled_from([event, event.get("payload")]))
            if isinstance(target, dict) and target:
                key = draw(st.sampled_from(sorted(target)))
                if key != "routing_key":
                    target.pop(key)
        elif isinstance(event.get("payload"), dict):
            payload = event["payload"]
            if where == "payload":
                key = draw(st.sampled_from(["summary", "source", "severity", "timestamp",
                                            "class", "component"]))  # fmt: skip
                payload[key] = draw(poison_value(body))
            elif isinstance(payload.get("custom_details"), dict):
                payload["custom_details"]["accounts"] = draw(poison_value(body))
    route = draw(st.sampled_from([PD, PD_NATIVE]))
    return Case(route, body, {**headers, **draw(CONTENT_TYPES)}, authorized, clean, pd=event)


# -- the property ------------------------------------------------------------------------

ALLOWED = {AM: {200, 400, 401, 413}, PD: {202, 400}, PD_NATIVE: {202, 400}}


@dataclass
class Truth:
    """What the store must hold, from the accepted requests alone."""

    fingerprints: set[str] = field(default_factory=set)


def _stored(services: Services) -> tuple[set[str], dict[str, list[str]]]:
    conn = sqlite3.connect(services.db.path)
    try:
        rows = {r[0] for r in conn.execute("SELECT fingerprint FROM alerts")}
        events: dict[str, list[str]] = {}
        for stream, type_ in conn.execute("SELECT stream, type FROM events ORDER BY seq"):
            if stream.startswith("alert:"):
                events.setdefault(stream.removeprefix("alert:"), []).append(type_)
        return rows, events
    finally:
        conn.close()


def _check_accepted(case: Case, response: Any, truth: Truth) -> None:
    answer = response.json()
    if case.route == AM:
        keys = {(a["fingerprint"], _instant(a["startsAt"])) for a in case.alerts}
        # copies of one (fingerprint, startsAt) in one notification are one occurrence
        assert answer["received"] == len(keys), (answer, keys)
        truth.fingerprints |= {fp for fp, _ in keys}
    else:
        assert case.pd is not None
        if case.pd["event_action"] == "trigger":
            key = case.pd.get("dedup_key") or answer["dedup_key"]
            assert answer["dedup_key"] == key
            truth.fingerprints.add(key)


def _run(cases: list[Case]) -> None:
    with fresh_services(lock_wait_s=5) as services:
        log = configure_logging(services.settings.logs_dir)
        assert log is not None
        truth = Truth()
        try:
            app = create_app(services, token=TOKEN, max_body_bytes=MAX_BODY)
            with TestClient(app, raise_server_exceptions=False) as client:
                for case in cases:
                    before = write_counts(services)
                    response = client.post(case.route, content=case.body.encode(),
                                           headers=case.headers)  # fmt: skip
                    status = response.status_code
                    event(f"{case.route} {status}{' clean' if case.clean else ''}")
                    assert status in ALLOWED[case.route], (status, response.text)
                    if status >= 300:
                        assert write_counts(services) == before, "a refusal wrote"
                        assert case.route != AM or status != 401 or not case.authorized
                    else:
                        assert case.authorized, "accepted without the token"
                        _check_accepted(case, response, truth)
                    if case.clean and case.authorized:
                        assert status < 300, (response.text, case.body.value)
                    rows, events = _stored(services)
                    assert rows == truth.fingerprints
                    for fingerprint, types in events.items():
                        assert types[0] in ("alert.fired", "alert.resolved"), types
                        assert types.count("alert.fired") <= 1, (fingerprint, types)
            assert log_problems(services.settings.logs_dir, errors_too=True) == []
            assert verify_problems(services) == []
        finally:
            reset_logging()


def _known_poison() -> list[Case]:
    """Issue 16's receiver findings, each once: a lone surrogate label, copies of one
    fingerprint in one payload, 5,000 digits in PagerDuty details without a token."""
    surrogate = am_payload(am_alert("f0", labels={"alertname": "A", "account": "\ud800"}))
    copies = [am_alert("f1"), am_alert("f1"), am_alert("f1", startsAt="2026-10-17T04:14:08+02:00")]
    huge = Body(pd_event(routing_key="R0UT1NGKEY"))
    huge.value["payload"]["custom_details"]["accounts"] = huge.poison("9" * 5000)
    auth = dict(GOOD_AUTH[0])
    return [
        Case(AM, Body(surrogate), auth, True, False, alerts=surrogate["alerts"]),
        Case(AM, Body(am_payload(*copies)), auth, True, True, alerts=copies),
        Case(PD, huge, {}, False, False, pd=huge.value),
    ]


@fuzz_settings(max_examples=40, deadline=30_000)
@given(cases=st.lists(st.one_of(am_case(), pd_case()), min_size=1, max_size=4))
@example(cases=_known_poison())
def test_receiver_answers_as_designed_and_stores_what_it_accepted(cases: list[Case]) -> None:
    _run(cases)
