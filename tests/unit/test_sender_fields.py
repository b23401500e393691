"""Bad input in what senders add to an event: a trigger's links/images/client (kept as
``pagerduty.*`` annotations) and a change event's links; every problem names its field."""

from __future__ import annotations

from typing import Any

import pytest

from incidentbook.core.alerts.formats.common import PayloadError
from incidentbook.core.alerts.formats.pagerduty import parse_pagerduty
from incidentbook.core.alerts.model import sender_context
from incidentbook.core.changes.model import change_key, parse_change_event
from tests.support.payloads import pd_event


def test_trigger_keeps_links_images_client_as_annotations() -> None:
    event = parse_pagerduty(
        pd_event(
            links=[{"href": "https://x.example/a", "text": "a"}],
            images=[{"src": "https://x.example/i.png", "href": "https://x.example/", "alt": "i"}],
            client="Grafana",
            client_url="https://grafana.example",
        )
    )
    assert event.alert is not None
    sender = sender_context(event.alert.annotations)
    assert sender.links == ({"href": "https://x.example/a", "text": "a"},)
    assert sender.images == (
        {"src": "https://x.example/i.png", "href": "https://x.example/", "alt": "i"},
    )
    assert (sender.client, sender.client_url) == ("Grafana", "https://grafana.example")
    assert event.alert.annotations["accounts"] == "3"  # custom_details still there


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"links": "https://x"}, "links: must be an array of at most 50 objects"),
        ({"links": [{"text": "no href"}]}, "links[0].href: is required"),
        ({"images": [{"alt": "no src"}]}, "images[0].src: is required"),
        ({"images": [7]}, "images[0]: must be an object, not a number"),
        ({"client": 3}, "client: must be a string, not a number"),
    ],
)
def test_bad_sender_fields_are_named(over: dict[str, Any], error: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_pagerduty(pd_event(**over))
    assert raised.value.errors == [error]


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        ({"routing_key": "k"}, ["payload: is required and must be an object"]),
        (
            {"routing_key": "k", "payload": {"summary": "s", "source": "c"}, "links": [{}]},
            ["links[0].href: is required"],
        ),
        (
            {"routing_key": "k", "payload": {"summary": "s", "source": "c", "timestamp": "soon"}},
            ["payload.timestamp: is not an RFC 3339 time: 'soon'"],
        ),
        (
            {"routing_key": "k", "payload": {"summary": "\ud800", "source": "c"}},
            ["payload.summary: is not valid Unicode text (a lone surrogate)"],
        ),
        ({"payload": {"summary": "s", "source": "c"}}, ["routing_key: is required"]),
    ],
)
def test_bad_change_events_are_named(event: dict[str, Any], errors: list[str]) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_change_event(event)
    assert raised.value.errors == errors


def test_change_key_ignores_the_routing_key_only() -> None:
    body = {"payload": {"summary": "s", "source": "c", "timestamp": "2026-10-17T01:55:00Z"}}
    assert change_key({**body, "routing_key": "a"}) == change_key({**body, "routing_key": "b"})
    later = {"payload": {**body["payload"], "timestamp": "2026-10-17T01:56:00Z"}}
    assert change_key(later) != change_key(body)
