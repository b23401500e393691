"""incidentbook.toml is checked in every section (pydantic models, incidentbook.config): a
misspelt key or a wrong type is one line naming the file, the section and the key, exit 2, for
every command and for the app's start; settings come from the environment too
(INCIDENTBOOK_<SECTION>_<KEY>), over the file, checked the same way, errors naming the variable."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from incidentbook.config import SECTIONS, validate_config
from incidentbook.errors import UsageError
from incidentbook.settings import load_settings
from incidentbook.workspace import DEFAULT_CONFIG
from tests.support.cli import REPO_ROOT, Cli, event_count


def _set(workspace: Path, section: str, line: str) -> None:
    """Put ``line`` into ``[section]`` of the workspace's file (adding the section if need be)."""
    config = workspace / "incidentbook.toml"
    key = line.split(" = ")[0]
    text = re.sub(rf"(?m)^{re.escape(key)} = .*\n", "", config.read_text())  # init's own line
    header = re.compile(rf"(?m)^\[{re.escape(section)}\]\n")
    if header.search(text):
        text = header.sub(lambda m: m.group(0) + line + "\n", text, count=1)
    else:
        text += f"\n[{section}]\n{line}\n"
    config.write_text(text)


def _one_line_exit_2(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    result = cli(*args, env=env)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0].removeprefix("incidentbook: error: ")


def test_the_shipped_files_are_valid() -> None:
    """What init writes and the repository's own (demo) workspace file: every key known."""
    for text in (DEFAULT_CONFIG, (REPO_ROOT / "incidentbook.toml").read_text()):
        validate_config(tomllib.loads(text))


def test_every_section_has_a_model_and_init_writes_only_known_sections() -> None:
    assert set(tomllib.loads(DEFAULT_CONFIG)) <= set(SECTIONS)
    assert {"workspace", "ledger", "reconciler", "alerts", "server", "runbooks", "app", "log"} == (
        set(SECTIONS)
    )


MISSPELT = [
    ("workspace", 'timzone = "UTC"', "'timzone' (did you mean 'timezone'?)"),
    ("ledger", 'urll = "sqlite:///x.sqlite"', "'urll' (did you mean 'url'?)"),
    ("reconciler", "keep_run = 3", "'keep_run' (did you mean 'keep_runs'?)"),
    ("alerts", 'group_bye = ["x"]', "'group_bye' (did you mean 'group_by'?)"),
    ("server", 'tokn = "t"', "'tokn' (did you mean 'token'?)"),
    ("runbooks", "review_max_age = 3", "'review_max_age' (did you mean 'review_max_age_days'?)"),
    ("app", 'theem = "nord"', "'theem' (did you mean 'theme'?)"),
    ("log", 'levl = "debug"', "'levl' (did you mean 'level'?)"),
]


@pytest.mark.parametrize(("section", "line", "said"), MISSPELT, ids=[m[0] for m in MISSPELT])
@pytest.mark.parametrize("command", [("incident", "list"), ("verify",), ("search", "x"), ()])
def test_a_misspelt_key_in_any_section_is_one_line_exit_2_for_every_command(
    cli: Cli, section: str, line: str, said: str, command: tuple[str, ...]
) -> None:
    """``()`` is the app's start: the settings are checked before it opens."""
    _set(cli.workspace, section, line)
    message = _one_line_exit_2(cli, *command)
    assert message == f"incidentbook.toml: [{section}] unknown key {said}"
    assert event_count(cli.workspace) == 0


WRONG_TYPES = [
    ("workspace", "timezone = 1", "[workspace] timezone is 1: input should be a valid string"),
    ("ledger", "url = true", "[ledger] url is true: input should be a valid string"),
    ("reconciler", 'keep_runs = "20"', "[reconciler] keep_runs is '20': input should be a valid"),
    ("alerts", "group_by = [1]", "[alerts] group_by is [1]: input should be a valid string"),
    ("alerts", 'change_window = "soon"', "[alerts] change_window is 'soon': give a duration"),
    ("server", "retry_after_seconds = 0", "[server] retry_after_seconds is 0: input should be"),
    ("runbooks", "review_max_age_days = 1.5", "[runbooks] review_max_age_days is 1.5: input"),
    ("app", "theme = 3", "[app] theme is 3: input should be a valid string"),
    ("log", 'level = "loud"', "[log] level is 'loud': input should be 'debug', 'info'"),
]


@pytest.mark.parametrize(("section", "line", "said"), WRONG_TYPES, ids=[w[1] for w in WRONG_TYPES])
def test_a_wrong_type_is_one_line_naming_section_and_key(
    cli: Cli, section: str, line: str, said: str
) -> None:
    _set(cli.workspace, section, line)
    assert _one_line_exit_2(cli, "incident", "list").startswith(f"incidentbook.toml: {said}")


def test_an_unknown_section_and_a_section_that_is_no_table(cli: Cli) -> None:
    config = cli.workspace / "incidentbook.toml"
    text = config.read_text()
    config.write_text(text + "\n[reconcile]\nbatch_size = 3\n")
    assert _one_line_exit_2(cli, "incident", "list") == (
        "incidentbook.toml: unknown section [reconcile] (did you mean [reconciler]?)"
    )
    config.write_text('runbooks = "no"\n' + text.replace("[runbooks]\n", "[runbook_rules]\n"))
    assert _one_line_exit_2(cli, "incident", "list").startswith(
        "incidentbook.toml: [runbooks] must be a table"
    )


def test_a_table_of_keys_inside_app_is_checked_too(cli: Cli) -> None:
    _set(cli.workspace, "app.keys", "'incident.resolve' = 5")
    assert _one_line_exit_2(cli, "incident", "list") == (
        "incidentbook.toml: [app.keys] incident.resolve is 5: input should be a valid string"
    )


# -- the environment --------------------------------------------------------------------------


def test_the_ledger_url_comes_from_the_environment_over_the_file(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(workspace).ledger_url.endswith("/.incidentbook/ledger.sqlite")
    secret = "postgresql+psycopg://ops:s3cret@db.internal/ledger"
    monkeypatch.setenv("INCIDENTBOOK_LEDGER_URL", secret)
    assert load_settings(workspace).ledger_url == secret
    monkeypatch.setenv("INCIDENTBOOK_LEDGER_URL", "sqlite:///elsewhere.sqlite")
    assert load_settings(workspace).ledger_url == f"sqlite:///{workspace}/elsewhere.sqlite"


def test_every_kind_of_setting_comes_from_the_environment(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENTBOOK_RECONCILER_KEEP_RUNS", "7")
    monkeypatch.setenv("INCIDENTBOOK_RECONCILER_CLOCK_SKEW_TOLERANCE_S", "1.5")
    monkeypatch.setenv("INCIDENTBOOK_ALERTS_GROUP_BY", "alertname, env")
    monkeypatch.setenv("INCIDENTBOOK_ALERTS_CHANGE_WINDOW", "90m")
    monkeypatch.setenv("INCIDENTBOOK_SERVER_TOKEN", "from-env")
    monkeypatch.setenv("INCIDENTBOOK_WORKSPACE_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("INCIDENTBOOK_APP_THEME", "nord")
    monkeypatch.setenv("INCIDENTBOOK_LOG_LEVEL", "warning")
    settings = load_settings(workspace)
    values = settings.values
    assert values.reconciler.keep_runs == 7 and values.reconciler.clock_skew_tolerance_s == 1.5
    assert settings.alert_group_by == ["alertname", "env"]
    assert settings.change_window_s == 90 * 60
    assert settings.token == "from-env" and settings.timezone == "Europe/Berlin"
    assert values.app.theme == "nord" and values.log.level == "warning"


def test_the_documented_token_variable_beats_the_older_one(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENTBOOK_TOKEN", "older")
    assert load_settings(workspace).token == "older"
    monkeypatch.setenv("INCIDENTBOOK_SERVER_TOKEN", "documented")
    assert load_settings(workspace).token == "documented"


BAD_ENV = [
    ("INCIDENTBOOK_RECONCILER_KEEP_RUNS", "lots",
     "INCIDENTBOOK_RECONCILER_KEEP_RUNS is 'lots': input should be a valid integer"),
    ("INCIDENTBOOK_RECONCILER_KEEP_RUNS", "0",
     "INCIDENTBOOK_RECONCILER_KEEP_RUNS: [reconciler] keep_runs is 0: input should be greater"),
    ("INCIDENTBOOK_LEDGER_URI", "sqlite:///x",
     "INCIDENTBOOK_LEDGER_URI: [ledger] has no key 'uri' (did you mean INCIDENTBOOK_LEDGER_URL?)"),
    ("INCIDENTBOOK_SERVER_LOCK_WAIT_SECONDS", "nan",
     "INCIDENTBOOK_SERVER_LOCK_WAIT_SECONDS is 'nan': give a finite number"),
    ("INCIDENTBOOK_LOG_LEVEL", "chatty", "INCIDENTBOOK_LOG_LEVEL: [log] level is 'chatty'"),
    ("INCIDENTBOOK_ALERTS_CHANGE_WINDOW", "8d",
     "INCIDENTBOOK_ALERTS_CHANGE_WINDOW: [alerts] change_window is '8d': give a duration"),
    ("INCIDENTBOOK_APP_KEYS", "x", "INCIDENTBOOK_APP_KEYS: a table cannot come from"),
]


@pytest.mark.parametrize(("name", "value", "said"), BAD_ENV, ids=[b[0] for b in BAD_ENV])
def test_a_bad_variable_is_one_line_naming_the_variable(
    cli: Cli, name: str, value: str, said: str
) -> None:
    for command in (("incident", "list"), ()):
        assert _one_line_exit_2(cli, *command, env={name: value}).startswith(said)


def test_a_good_file_value_with_a_bad_variable_names_the_variable_not_the_file(cli: Cli) -> None:
    _set(cli.workspace, "reconciler", "entry_overlap = 5")
    message = _one_line_exit_2(
        cli, "incident", "list", env={"INCIDENTBOOK_RECONCILER_ENTRY_OVERLAP": "-1"}
    )
    assert message.startswith("INCIDENTBOOK_RECONCILER_ENTRY_OVERLAP: [reconciler] entry_overlap")


def test_variables_that_are_not_settings_are_left_alone(cli: Cli) -> None:
    result = cli("incident", "list", env={"INCIDENTBOOK_ACTOR": "user:x",
                                          "INCIDENTBOOK_PG_BIN": "/nowhere"})
    assert result.exit_code == 0, result.output


# -- checked once per content: the app's first paint does not wait on pydantic ---------------

FIRST_PAINT_IMPORTS = """
import sys
from incidentbook.settings import load_settings
from incidentbook.ui.app import make_app
make_app(load_settings(sys.argv[1]))
print(sorted(m for m in ("pydantic", "sqlalchemy", "concurrent_log_handler") if m in sys.modules))
"""


def test_a_file_checked_before_is_not_checked_again_but_any_change_is(
    workspace: Path, subprocess_env: dict[str, str]
) -> None:
    import subprocess
    import sys

    def imported() -> str:
        return subprocess.run(
            [sys.executable, "-c", FIRST_PAINT_IMPORTS, str(workspace)],
            capture_output=True, text=True, check=True, env=subprocess_env,
        ).stdout.strip()

    assert imported() == "['pydantic']"  # the first start checks the file ...
    assert imported() == "[]"  # ... later ones, of the same file, need not
    config = workspace / "incidentbook.toml"
    config.write_text(config.read_text().replace("keep_runs = 20", "keep_run = 20"))
    with pytest.raises(UsageError, match="unknown key 'keep_run'"):
        load_settings(workspace)  # a change is checked
    config.write_text(config.read_text().replace("keep_run = 20", "keep_runs = 21"))
    assert load_settings(workspace).values.reconciler.keep_runs == 21
    env = {**subprocess_env, "INCIDENTBOOK_RECONCILER_KEEP_RUNS": "0"}
    failed = subprocess.run(
        [sys.executable, "-c", FIRST_PAINT_IMPORTS, str(workspace)],
        capture_output=True, text=True, env=env,
    )
    assert "INCIDENTBOOK_RECONCILER_KEEP_RUNS: [reconciler] keep_runs is 0" in failed.stderr
