"""Errors under ``--json`` (DESIGN §10, issue 12): one line of JSON on stderr,
``{"error": MESSAGE, "exit_code": N}``, with the same message and exit code as the plain
``incidentbook: error: MESSAGE`` line printed without ``--json``; nothing on stdout."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import Cli

PREFIX = "incidentbook: error: "


def plain_message(cli: Cli, *args: str) -> tuple[str, int]:
    result = cli(*args)
    assert result.stderr.startswith(PREFIX) and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.removeprefix(PREFIX).rstrip("\n"), result.exit_code


def json_error(cli: Cli, *args: str) -> tuple[dict[str, object], int]:
    result = cli(*args)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    return json.loads(result.stderr), result.exit_code


def test_unknown_incident_under_json(cli: Cli) -> None:
    error, code = json_error(cli, "incident", "show", "INC-9999", "--json")
    assert code == 2
    assert error == {"error": "no incident INC-9999", "exit_code": 2}
    assert plain_message(cli, "incident", "show", "INC-9999") == (error["error"], 2)


@pytest.mark.parametrize(
    "args",
    [
        ("incident", "show", "--json"),  # missing argument
        ("incident", "show", "INC-0001", "--json", "--bogus"),  # unknown option, found first
        ("incident", "show", "--bogus", "INC-0001", "--json"),
        ("alerts", "list", "--limit", "abc", "--json"),  # a value that does not convert
    ],
    ids=["missing-argument", "unknown-option-after", "unknown-option-before", "bad-value"],
)
def test_usage_errors_under_json(cli: Cli, args: tuple[str, ...]) -> None:
    error, code = json_error(cli, *args)
    assert code == 2 and error["exit_code"] == 2
    assert isinstance(error["error"], str) and error["error"].endswith("(see --help)")
    # the same command line without --json: the plain line, the same message
    assert plain_message(cli, *(a for a in args if a != "--json")) == (error["error"], 2)


def test_json_after_double_dash_or_on_a_command_without_it_stays_plain(cli: Cli) -> None:
    # "--json" as a positional word after "--" is not the option
    message, code = plain_message(cli, "incident", "show", "--bogus", "--", "--json")
    assert code == 2 and "No such option '--bogus'" in message
    # a group has no --json: its own usage error is the plain line
    message, code = plain_message(cli, "incident", "bogus", "--json")
    assert code == 2 and "No such command 'bogus'" in message
