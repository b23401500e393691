"""A workspace's keymap and theme (``[app.keys]`` by binding id, ``[app] theme``): applied at
the app's start; an unknown binding id, key or theme is one line naming it, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from incidentbook.services import Services, make_services
from incidentbook.settings import load_settings
from incidentbook.ui.app import make_app
from incidentbook.ui.screens.health import HealthScreen
from incidentbook.ui.screens.help import HelpScreen
from incidentbook.ui.screens.triage import TriageScreen
from incidentbook.workspace import init_workspace
from tests.support.app import settle
from tests.support.app_seed import seed
from tests.support.cli import Cli

SIZE = (140, 40)


def _configure(workspace: Path, app_section: str) -> None:
    config = workspace / "incidentbook.toml"
    config.write_text(config.read_text() + "\n" + app_section)


@pytest.fixture
def keyed_workspace(tmp_path: Path) -> Path:
    root = init_workspace(tmp_path / "ws").workspace
    _configure(
        root,
        '[app]\ntheme = "nord"\n\n[app.keys]\n"app.help" = "f2"\n"app.health" = "f3, ctrl+y"\n',
    )
    services: Services = make_services(load_settings(root))
    seed(services)
    services.db.dispose()
    return root


async def test_a_rebound_key_fires_its_binding_and_the_old_key_no_longer_does(
    keyed_workspace: Path,
) -> None:
    app = make_app(load_settings(keyed_workspace))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "nord" and app.current_theme.name == "nord"
        await pilot.press("question_mark")  # Help's own key, rebound away
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("H")  # Health's own key, rebound to two others
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)


async def test_without_app_settings_the_default_keys_and_theme_hold(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws").workspace
    app = make_app(load_settings(root))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark"
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize(
    ("section", "said"),
    [
        ('[app.keys]\n"incident.reslove" = "x"\n',
         "incidentbook.toml: [app.keys] unknown binding id 'incident.reslove'"
         " (did you mean 'incident.resolve'?)"),
        ('[app.keys]\n"app.help" = "ctrl+questoin"\n',
         "incidentbook.toml: [app.keys] app.help = 'ctrl+questoin': 'ctrl+questoin' is not a key:"
         " 'questoin' is not a key name"),
        ('[app.keys]\n"app.help" = "f2, cntrl+h"\n',
         "incidentbook.toml: [app.keys] app.help = 'f2, cntrl+h': 'cntrl+h' is not a key:"
         " 'cntrl' is not a modifier"),
        ('[app]\ntheme = "nordd"\n', "incidentbook.toml: [app] theme 'nordd' is not a theme"
         " (themes: "),
    ],
    ids=["unknown id", "unknown key", "unknown modifier", "unknown theme"],
)
def test_a_bad_keymap_or_theme_is_one_line_at_the_apps_start(
    tmp_path: Path, section: str, said: str
) -> None:
    root = init_workspace(tmp_path / "ws").workspace
    _configure(root, section)
    result = Cli(root)()  # no command: the app
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"incidentbook: error: {said}"), line
    if "theme" in said:
        assert "nord" in line and "textual-dark" in line


def test_a_theme_from_the_environment_is_named_by_its_variable(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws").workspace
    result = Cli(root)(env={"INCIDENTBOOK_APP_THEME": "solarised"})
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "incidentbook: error: INCIDENTBOOK_APP_THEME: [app] theme 'solarised' is not a theme"
    )



async def test_a_binding_rebound_onto_a_letter_never_acts_while_typing(tmp_path: Path) -> None:
    """The safe-keys rule judges a binding by the keys the keymap gives it: Refresh, declared
    on ctrl+r and rebound to ``x``, is refused while a text field has focus, and ``x`` types."""
    root = init_workspace(tmp_path / "ws").workspace
    _configure(root, '[app.keys]\n"app.refresh" = "x"\n')
    app = make_app(load_settings(root))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.check_action("refresh", ()) is True  # nothing typed into yet
        await pilot.press("slash")
        await settle(pilot)
        field = app.focused
        assert isinstance(field, Input)
        assert app.check_action("refresh", ()) is False
        await pilot.press("x")
        await settle(pilot)
        assert field.value.endswith("x")
