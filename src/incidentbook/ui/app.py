"""The incidentbook app. ``make_app(settings)`` is the one factory the CLI and the tests use.

The first paint never waits on the database: the app mounts the Triage screen at once and opens
(and migrates) the state database in a thread worker, then tells the screens to load. The
screens opened by name (a key, the palette) are the entries of ``ui.registry``.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import Screen

from incidentbook.obs import logger
from incidentbook.services import Services, make_services
from incidentbook.settings import Settings
from incidentbook.storage.integrity import check_state_file, missing
from incidentbook.ui.keymap import binding_ids, checked_keymap, checked_theme, ui_classes
from incidentbook.ui.keys import NAVIGATION_BINDINGS, move, typing_blocks
from incidentbook.ui.messages import (
    DatabaseReady,
    DataChanged,
    Reload,
    ScreenRequested,
    WorkFailed,
)
from incidentbook.ui.registry import SCREENS, SCREENS_BY_NAME
from incidentbook.ui.screens.help import HelpScreen
from incidentbook.ui.screens.triage import TriageScreen
from incidentbook.ui.workers import run_in_worker

REFRESH_SECONDS = 5.0
# The garbage collector's thresholds while the app runs (the previous ones come back on exit).
# With Python's (700, 10, 10) a full collection over the app's long-lived heap (Textual's render
# caches, the services: ~160,000 objects, ~110 ms of CPU) ran on the UI thread about every other
# key press at 20,000 accounts (``python -m bench repaint``); with these, none in 80 presses.
GC_THRESHOLDS = (10_000, 10, 100)


class HealNotices(logging.Handler):
    """A damaged search index found and rebuilt (the search package logs ``index_healed``,
    from whichever worker searched) as one notification. A log handler, so the app need not
    import Whoosh to hear of it."""

    def __init__(self, app: App[None]) -> None:
        super().__init__(logging.ERROR)
        self.app = app
        self.owner = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() != "index_healed":
            return
        damage = getattr(record, "damage", "unknown damage")
        documents = getattr(record, "documents", 0)
        text = f"search index damaged ({damage}); rebuilt from sources ({documents} documents)"
        show = partial(self.app.notify, text, title="Search index", severity="warning", timeout=30)
        if threading.get_ident() == self.owner:
            show()
        else:
            self.app.call_from_thread(show)


class IncidentbookApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "incidentbook"
    ENABLE_COMMAND_PALETTE = True
    # Classes the stylesheet adapts the layouts by (app.tcss): -narrow below 120 columns,
    # -short below 36 lines.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        *(entry.binding() for entry in SCREENS),
        # In the palette and the help, not the footer (so the screens' footers stay as they are).
        Binding(
            "R",
            "reconcile",
            "Reconcile now",
            id="app.reconcile",
            show=False,
            tooltip="Run the ledger checks now; findings become alerts",
        ),
        Binding("P", "new_premortem", "New pre-mortem", id="app.premortem", show=False),
        Binding("ctrl+r", "refresh", "Refresh", id="app.refresh"),
        Binding("q", "quit", "Quit", id="app.quit"),
        # Help and Quit on keys that type no character, so they stay live (and in the footer)
        # while a text field has the focus and takes ? and q as text; the footer shows one
        # key per name, the character while it is live.
        Binding("f1", "help_anywhere", "Help", id="app.help_f1", tooltip="Help (also in a field)"),
        Binding(
            "ctrl+q", "quit_anywhere", "Quit", id="app.quit_ctrl", tooltip="Quit (also in a field)"
        ),
        *NAVIGATION_BINDINGS,
    ]

    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.services = services or make_services(settings)
        self.db_ready = False
        self.db_error: str | None = None
        self.keymap_in_use: dict[str, str] = {}  # ui.keys.KEYMAP_ATTRIBUTE
        self._gc_thresholds = gc.get_threshold()
        self.last_event_seq = 0
        self.sub_title = settings.workspace.name

    def on_mount(self) -> None:
        self.heal_notices = HealNotices(self)
        logger().addHandler(self.heal_notices)
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        self.push_screen(TriageScreen())
        # Open the database after the first frame is on screen, so it never delays it.
        self.call_after_refresh(self.open_database)
        self.set_interval(REFRESH_SECONDS, self._poll_changes)

    def on_unmount(self) -> None:
        logger().removeHandler(self.heal_notices)
        gc.set_threshold(*self._gc_thresholds)

    def open_database(self) -> None:
        """Open (and migrate) the database in a thread worker; a failure is shown, the app
        lives on."""
        run_in_worker(self, self._opened_database, group="open-database")

    def _opened_database(self) -> DatabaseReady:
        # Deferred, and so imported in the worker's thread: the event store pulls in
        # SQLAlchemy, which the first paint does not need.
        from incidentbook.core.events.store import last_seq

        ready = DatabaseReady(last_seq(self.services.db))  # opens and migrates first
        # The search package (Whoosh), imported whole here before the panels' workers start:
        # two of them importing its modules at once in their threads saw one half-initialised
        # ("cannot import name 'Hit' from partially initialized module").
        import incidentbook.core.search  # noqa: F401

        return ready

    def on_database_ready(self, message: DatabaseReady) -> None:
        self.db_ready = True
        self.last_event_seq = message.last_seq
        self._broadcast("database")

    def on_work_failed(self, message: WorkFailed) -> None:
        # The app's own work is opening the database (the screens and widgets stop theirs).
        self.db_error = message.error
        self.notify(
            message.error, title="Cannot open the state database", severity="error", timeout=30
        )

    def on_screen_requested(self, message: ScreenRequested) -> None:
        self.push_screen(message.screen)

    def on_data_changed(self, message: DataChanged) -> None:
        self._broadcast(message.source)

    def _broadcast(self, source: str) -> None:
        # The visible screen reloads now; the others reload when they are shown again.
        self.screen.post_message(Reload(source))

    def _poll_changes(self) -> None:
        if self.db_ready:
            self.check_for_changes()

    @work(thread=True, exclusive=True, group="poll")
    def check_for_changes(self) -> None:
        """Pick up changes made outside the app (the CLI, the receiver): every change appends
        an event, so a new highest event number means something changed."""
        # Deferred: the event store pulls in SQLAlchemy, which the first paint does not need.
        from incidentbook.core.events.store import last_seq

        seq = last_seq(self.services.db)
        if seq != self.last_event_seq:
            self.last_event_seq = seq
            self.post_message(DataChanged("poll"))

    # -- safe keys -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No printable key acts while a text field has focus (``ui.keys``). The command
        palette's own query box is not the operator typing into a screen."""
        screen = self.screen
        if isinstance(screen, CommandPalette):
            return True
        return not typing_blocks(self.BINDINGS, action, screen)

    # -- actions -------------------------------------------------------------------------

    def action_move(self, where: str) -> None:
        """j/k, g/G: move in whichever table or list has focus."""
        move(self.screen.focused, where)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.screen))

    def action_help_anywhere(self) -> None:
        self.action_help()

    async def action_quit_anywhere(self) -> None:
        await self.action_quit()

    def action_refresh(self) -> None:
        self._broadcast("refresh")

    def action_reconcile(self) -> None:
        # Deferred: the Reconcile screen's module is only needed when a run is asked for.
        from incidentbook.ui.screens.reconcile import reconcile_now

        reconcile_now(self)

    def action_new_premortem(self) -> None:
        # Deferred: the dialog is only needed when asked for.
        from incidentbook.ui.screens.premortem_dialog import NewPremortemDialog

        def started(path: Path | None) -> None:
            if path is not None:
                # Deferred: the editor pulls in the documents core (SQLAlchemy).
                from incidentbook.ui.screens.editor import EditorScreen

                self.push_screen(EditorScreen(path))

        self.push_screen(NewPremortemDialog(), started)

    def action_open_screen(self, name: str) -> None:
        entry = SCREENS_BY_NAME.get(name)
        if entry is None:
            self.notify(f"no screen {name!r}", severity="warning")
            return
        self.push_screen(entry.load()())

    # -- command palette: every binding with an id is also a command -------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands, then each binding with an id once; a binding named like a
        command already listed (Quit) is not listed again."""
        names: set[str] = set()
        for command in super().get_system_commands(screen):
            names.add(command.title)
            yield command
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.id or not binding.description or binding.description in names:
                continue
            names.add(binding.description)
            shown = binding.key_display or key
            yield SystemCommand(
                binding.description,
                f"{binding.tooltip or binding.description} (key: {shown})",
                partial(self.run_action, binding.action, active.node),
            )


def make_app(settings: Settings, services: Services | None = None) -> IncidentbookApp:
    """Build the app for a workspace, with its theme and keymap (``[app]``; an unknown theme,
    binding id or key is a one-line UsageError). Nothing is opened until the app runs."""
    app = IncidentbookApp(settings, services)
    # A damaged state database is one line before the app opens, not a notice after it has:
    # its header and the event log's pages (sqlite3 alone: no SQLAlchemy before first paint).
    check_state_file(settings.db_path)
    if not settings.db_path.exists():
        reason = app.services.missing_state_reason()  # only for a new or lost database
        if reason is not None:
            raise missing(settings.db_path, reason)
    if "app" not in settings.config:
        return app  # (settings.values would import pydantic before the first paint)
    configured = settings.values.app
    if configured.theme is not None:
        where = settings.origin("app", "theme")
        app.theme = checked_theme(configured.theme, app.available_themes, where)
    if configured.keys:
        # Every screen's module is imported to know their binding ids: only with a keymap.
        known = binding_ids([IncidentbookApp, *ui_classes()])
        app.keymap_in_use = checked_keymap(configured.keys, known, settings.origin("app", "keys"))
        app.set_keymap(app.keymap_in_use)
    return app
