"""Search: search as you type over incidents, alerts, runbooks, postmortems and pre-mortems.

Every keystroke starts an exclusive thread worker (the previous one's result is dropped), the
worker posts the hits, and the list shows each with its kind badge, date, title and the snippet
(clean text, money formatted, by the core) with the matched words highlighted. The query text
is the one state of the filters: the kind chips light for the ``kind:`` filters the query has
(read by ``core.search.query``, as the search reads them), and a chip (F2–F6, or click) adds
or removes its ``kind:`` in the text. The rest of the query language (``service:`` ``tag:``
``severity:`` ``status:`` ``after:`` ``before:``, "phrases", prefix*) works in the box. A word
the index does not know gets a "did you mean" from the index's vocabulary (F7 takes it, or
enter when nothing was found). Enter opens the incident, runbook or document.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from incidentbook.core.search import did_you_mean, filter_values, toggle_filter
from incidentbook.core.search import search as search_everything
from incidentbook.frontmatter import split_lenient
from incidentbook.ui.messages import WorkFailed
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.screens.editor import EditorScreen
from incidentbook.ui.screens.incident import IncidentScreen
from incidentbook.ui.widgets.document_view import DocumentView
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from incidentbook.core.search.engine import Hit

KINDS: tuple[tuple[str, str, str], ...] = (
    # (kind, chip label, key)
    ("incident", "incidents", "f2"),
    ("alert_group", "alerts", "f3"),
    ("runbook", "runbooks", "f4"),
    ("postmortem", "postmortems", "f5"),
    ("premortem", "pre-mortems", "f6"),
)
BADGE_STYLE = {
    "incident": "bold white on dark_red",
    "alert_group": "bold black on yellow",
    "runbook": "bold white on dark_blue",
    "postmortem": "bold white on dark_green",
    "premortem": "bold black on cyan",
    "change": "bold white on purple",
}
LIMIT = 20
# Drain the outbox and rescan files at most this often while typing (and on every reload).
FRESH_EVERY_S = 2.0


@dataclass
class SearchDone(Message):
    query: str
    hits: list[Hit]
    millis: float
    fresh: bool = False


@dataclass
class Suggested(Message):
    """The "did you mean" for a query (``None``: none), looked for after its hits are shown."""

    query: str
    suggestion: str | None


def hit_label(hit: Hit) -> Text:
    """Two lines: badge, id, date, title; then the snippet with highlighted matches."""
    text = Text(no_wrap=False)
    badge = {"alert_group": "alert"}.get(hit.kind, hit.kind)
    text.append(f" {badge} ", style=BADGE_STYLE.get(hit.kind, "reverse"))
    text.append(f" {hit.doc_id}", style="bold")
    if hit.created:
        text.append(f"  {hit.created.strftime('%Y-%m-%d')}", style="dim")
    if hit.severity:
        text.append(f"  {hit.severity}", style="dim")
    text.append(f"  {hit.title}\n", style="bold")
    snippet = Text("   ")
    for run, matched in hit.segments():
        snippet.append(run, style="bold reverse" if matched else "")
    text.append_text(snippet)
    return text


class SearchScreen(DataScreen):
    DEFAULT_CSS = """
    SearchScreen #search-input { margin: 0 1; }
    SearchScreen #search-chips { height: 3; padding: 0 1; }
    SearchScreen #search-chips Button { min-width: 12; margin-right: 1; }
    SearchScreen #search-chips Button.-on { background: $accent; color: $text; }
    SearchScreen #search-status { height: 1; padding: 0 1; color: $text-muted; }
    SearchScreen #search-results { height: 1fr; margin: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="search.back"),
        Binding("ctrl+f", "focus_input", "Query", id="search.focus"),
        Binding("down", "focus_results", "Results", show=False, id="search.results"),
        *[
            Binding(key, f"toggle_kind('{kind}')", f"Filter {label}", id=f"search.kind.{kind}")
            for kind, label, key in KINDS
        ],
        Binding(
            "f7",
            "accept_suggestion",
            "Did you mean",
            id="search.did_you_mean",
            tooltip="Search the suggested spelling instead",
        ),
    ]

    # how long the search took, in the status line (snapshots turn it off: it varies by run)
    show_millis = True

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.initial = query
        self.hits: list[Hit] = []
        self.suggestion: str | None = None  # "did you mean" for the query shown
        self.last_query: str | None = None
        self.last_millis = 0.0
        self.searches = 0
        self._fresh_at = 0.0
        self._fresh_ok = False  # a fresh search has completed since the last reload

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            value=self.initial,
            placeholder='Search: words, "phrases", prefix*, kind: service: tag: severity: '
            "status: after: before:",
            id="search-input",
        )
        with Horizontal(id="search-chips"):
            for kind, label, key in KINDS:
                yield Button(f"{label} ({key.upper()})", id=f"chip-{kind}", compact=True)
        yield Static("Type to search everything incidentbook knows.", id="search-status")
        yield OptionList(id="search-results")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()
        self._light_chips(self.initial)
        super().on_mount()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F7 is in the footer only while there is a "did you mean" to take."""
        if action == "accept_suggestion" and self.suggestion is None:
            return False
        return super().check_action(action, parameters)

    @property
    def kinds(self) -> set[str]:
        """The kinds the query's ``kind:`` filters name (what the lit chips show)."""
        return filter_values(self.query_one("#search-input", Input).value, "kind")

    def reload(self) -> None:
        # New data (a command, an outside writer): run the current query again, fresh.
        self._fresh_ok = False
        value = self.query_one("#search-input", Input).value
        if value.strip():
            self._start(value)

    # -- searching -----------------------------------------------------------------------

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        self._light_chips(event.value)
        self._start(event.value)

    @on(Input.Submitted, "#search-input")
    def _submitted(self, _event: Input.Submitted) -> None:
        """Enter in the query box opens the highlighted (at first the best) hit; with no hit,
        it takes the "did you mean"."""
        if not self.hits and self.suggestion is not None:
            self.action_accept_suggestion()
            return
        index = self.query_one("#search-results", OptionList).highlighted or 0
        if 0 <= index < len(self.hits):
            self.open_hit(self.hits[index])

    def _start(self, value: str) -> None:
        self._suggest(None)
        if not value.strip():
            self.hits = []
            self.query_one("#search-results", OptionList).clear_options()
            self.query_one("#search-status", Static).update("")
            return
        self.searches += 1
        now = time.monotonic()
        fresh = not self._fresh_ok or now - self._fresh_at >= FRESH_EVERY_S
        if fresh:
            self._fresh_at = now
        self.search(value, fresh)

    def search(self, value: str, fresh: bool = True) -> None:
        """Search in a thread worker (the previous search's result is dropped)."""
        services = self.services

        def find() -> SearchDone:
            started = time.perf_counter()
            hits = search_everything(
                services.settings, value, limit=LIMIT, db=services.db, fresh=fresh
            )
            millis = (time.perf_counter() - started) * 1000
            return SearchDone(value, hits, millis, fresh)

        # A failure is shown in the status line, never a crash.
        run_in_worker(self, find, group="search", subject=value)

    def _current(self, value: str) -> bool:
        return value == self.query_one("#search-input", Input).value

    @on(SearchDone)
    def _done(self, message: SearchDone) -> None:
        if message.fresh:
            self._fresh_ok = True
        if not self._current(message.query):
            return  # a later keystroke's search is on its way
        self.hits = message.hits
        self.last_query = message.query
        self.last_millis = message.millis
        results = self.query_one("#search-results", OptionList)
        results.clear_options()
        results.add_options([Option(hit_label(h), id=h.uid) for h in message.hits])
        if message.hits:
            results.highlighted = 0
        self._show_status()
        self._look_for_suggestion(message.query)

    def _look_for_suggestion(self, value: str) -> None:
        """The "did you mean" in its own worker, once the hits are shown: the spelling
        corrector never delays the results of a keystroke."""
        settings = self.services.settings

        def find() -> Suggested:
            return Suggested(value, did_you_mean(settings, value))

        # no subject: a failure here is no query error to show (it means no suggestion)
        run_in_worker(self, find, group="spelling")

    @on(Suggested)
    def _suggested(self, message: Suggested) -> None:
        if self._current(message.query) and message.query == self.last_query:
            self._suggest(message.suggestion)
            self._show_status()

    def _suggest(self, suggestion: str | None) -> None:
        if suggestion != self.suggestion:
            self.suggestion = suggestion
            self.refresh_bindings()

    def _show_status(self) -> None:
        count = len(self.hits)
        more = "+" if count >= LIMIT else ""
        plural = "s" if count != 1 else ""
        timing = f" ({self.last_millis:.0f} ms)" if self.show_millis else ""
        status = Text(f"{count}{more} result{plural}{timing}")
        if self.suggestion is not None:
            keys = "F7" if count else "enter or F7"
            status.append(" — did you mean: ")
            status.append(self.suggestion, style="bold")
            status.append(f"? ({keys})")
        elif not count:
            status.append(" — try fewer words, a prefix*, or remove a filter")
        self.query_one("#search-status", Static).update(status)

    def work_failed(self, message: WorkFailed) -> None:
        if not message.subject or not self._current(message.subject):
            return  # a later query's, or the spelling worker's (no suggestion, then)
        self.hits = []
        self._suggest(None)
        self.last_query = message.subject
        self.query_one("#search-results", OptionList).clear_options()
        self.query_one("#search-status", Static).update(Text(message.error, style="bold red"))

    # -- filters -------------------------------------------------------------------------

    def action_toggle_kind(self, kind: str) -> None:
        """Add or remove ``kind:KIND`` in the query text; the chips follow the text."""
        box = self.query_one("#search-input", Input)
        self._set_query(toggle_filter(box.value, "kind", kind))

    def action_accept_suggestion(self) -> None:
        if self.suggestion is not None:
            self._set_query(self.suggestion)

    def _set_query(self, value: str) -> None:
        box = self.query_one("#search-input", Input)
        box.value = value  # Input.Changed lights the chips and searches
        box.cursor_position = len(value)

    def _light_chips(self, value: str) -> None:
        on = filter_values(value, "kind")
        for kind, _label, _key in KINDS:
            self.query_one(f"#chip-{kind}", Button).set_class(kind in on, "-on")

    @on(Button.Pressed)
    def _chip(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("chip-"):
            self.action_toggle_kind(event.button.id.removeprefix("chip-"))

    def action_focus_input(self) -> None:
        self.query_one("#search-input", Input).focus()

    def action_focus_results(self) -> None:
        results = self.query_one("#search-results", OptionList)
        if results.option_count:
            results.focus()

    # -- opening -------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#search-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        index = event.option_index
        if 0 <= index < len(self.hits):
            self.open_hit(self.hits[index])

    def open_hit(self, hit: Hit) -> None:
        if hit.kind == "incident":
            self.app.push_screen(IncidentScreen(hit.doc_id))
        elif hit.kind == "alert_group":
            if hit.incident:
                self.app.push_screen(IncidentScreen(hit.incident))
            else:
                self.notify(
                    f"alert group {hit.doc_id} has no incident yet; acknowledge it from Triage",
                    timeout=5,
                )
        elif hit.path:
            workspace = self.services.settings.workspace
            self.app.push_screen(DocumentViewScreen(Path(hit.path), hit.title, workspace))
        else:
            self.notify(f"{hit.kind} {hit.doc_id} has no file", severity="warning")


class DocumentViewScreen(Screen[None]):
    """A runbook, postmortem or pre-mortem rendered as the HTML export renders it (comments
    hidden, task boxes shown; ``DocumentView``); ``e`` edits a workspace file."""

    DEFAULT_CSS = """
    DocumentViewScreen #doc-scroll { height: 1fr; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="document.back"),
        Binding("e", "edit", "Edit", id="document.edit"),
    ]

    def __init__(self, path: Path, title: str, workspace: Path) -> None:
        super().__init__()
        self.path = path
        self.doc_title = title
        self.workspace = workspace  # files under it are editable

    def compose(self) -> ComposeResult:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            text = f"Cannot read {self.path}: {exc.strerror}"
        body = split_lenient(text)[0].body
        yield Header()
        yield Static(Text(f"{self.doc_title} — {self.path}", style="bold"), id="doc-title")
        with VerticalScroll(id="doc-scroll"):
            yield DocumentView(body, id="doc-body")
        yield KeyFooter()

    def action_edit(self) -> None:
        if not self.path.resolve().is_relative_to(self.workspace.resolve()):
            self.notify(
                "a shipped runbook is read-only: copy it into runbooks/ to change it",
                severity="warning",
            )
            return
        self.app.push_screen(EditorScreen(self.path))
