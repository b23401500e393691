"""Document editor: a postmortem or pre-mortem with live preview and blameless lint.

Left, the Markdown source (TextArea with tree-sitter Markdown highlighting); right, the live
preview (``DocumentView``: the one parser factory's tokens, as the HTML export renders them,
laid out once) and the lint findings, each of
which jumps to its line. ``ctrl+s`` saves (temp file + rename) and records what changed
(ticked action items close with an attributed event); ``ctrl+o`` opens ``$EDITOR`` via
``app.suspend()``; a file changed on disk outside the app is picked up. ``f9`` exports the
saved file to a standalone HTML page beside it (``postmortem export --html``); ``f5``
re-renders a postmortem's generated blocks (``postmortem new ID --refresh``).

``start_postmortem(screen, incident_id)`` is the one-key entry from an incident: it opens the
incident's postmortem, creating it from the template first when there is none.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Header, Label, Static, TextArea

from incidentbook.core.documents.export import default_html_path, export_html
from incidentbook.core.documents.files import shown
from incidentbook.core.documents.lint import Finding, lint_text
from incidentbook.core.documents.model import SyncReport
from incidentbook.core.documents.postmortem import find_postmortem
from incidentbook.errors import IncidentbookError
from incidentbook.frontmatter import split
from incidentbook.fs import atomic_write
from incidentbook.ui.messages import DataChanged, ScreenRequested, WorkFailed
from incidentbook.ui.screens.base import DataScreen
from incidentbook.ui.widgets.document_view import DocumentView
from incidentbook.ui.widgets.footer import KeyFooter
from incidentbook.ui.workers import run_in_worker

PREVIEW_DELAY_S = 0.25
DISK_POLL_S = 1.0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FileLoaded(Message):
    text: str
    mtime_ns: int
    external: bool = False  # True: changed on disk outside this screen


@dataclass
class LintDone(Message):
    findings: list[Finding]
    digest: str


@dataclass
class Saved(Message):
    text: str
    mtime_ns: int
    summary: str


@dataclass
class Exported(Message):
    summary: str  # what was written, for the notification


@dataclass
class ChangesRecorded(Message):
    summary: str  # what the sync recorded, "" for nothing


class EditorScreen(DataScreen):
    """Edit one Markdown document with front matter."""

    DEFAULT_CSS = """
    EditorScreen #editor-body { height: 1fr; }
    EditorScreen #editor-source { width: 1fr; height: 1fr; }
    EditorScreen #editor-side { width: 1fr; height: 1fr; }
    EditorScreen #editor-side.-hidden { display: none; }
    EditorScreen #editor-preview-scroll { height: 2fr; border: round $panel; }
    EditorScreen #editor-findings { height: 1fr; border: round $panel; }
    EditorScreen #editor-status { height: 1; padding: 0 1; background: $panel; }
    EditorScreen .section-title { padding: 0 1; text-style: bold; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="editor.save", priority=True),
        Binding("ctrl+o", "external_editor", "$EDITOR", id="editor.external"),
        Binding("ctrl+l", "focus_findings", "Findings", id="editor.findings"),
        Binding("f8", "next_finding", "Next finding", id="editor.next_finding"),
        Binding("ctrl+t", "toggle_preview", "Preview", id="editor.preview"),
        Binding("ctrl+r", "reload_from_disk", "Reload file", id="editor.reload"),
        Binding(
            "f9",
            "export_html",
            "Export HTML",
            id="editor.export_html",
            tooltip="Write the saved document as a standalone HTML page beside it",
        ),
        Binding(
            "f5",
            "refresh_blocks",
            "Refresh blocks",
            id="editor.refresh_blocks",
            tooltip="Re-render the postmortem's generated blocks from the incident; hand edits "
            "are kept",
        ),
        # Priority: in a code editor the TextArea would otherwise take escape to move focus.
        Binding("escape", "close", "Back", id="editor.back", priority=True),
    ]

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path)
        self.saved_text: str | None = None
        self.mtime_ns: int | None = None
        self.findings: list[Finding] = []
        self._preview_timer: Timer | None = None
        self._confirm_close = False

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="editor-body"):
            yield self._text_area()
            with Vertical(id="editor-side"):
                with VerticalScroll(id="editor-preview-scroll"):
                    yield DocumentView("", id="editor-preview")
                with Vertical(id="editor-findings"):
                    yield Label("Lint", classes="section-title")
                    yield DataTable(id="findings", cursor_type="row", zebra_stripes=True)
        yield Static(f"{self.path.name} — loading…", id="editor-status")
        yield KeyFooter()

    def _text_area(self) -> TextArea:
        try:
            area = TextArea.code_editor("", language="markdown", id="editor-source")
        except Exception:  # no tree-sitter grammar installed: plain text still edits
            area = TextArea.code_editor("", id="editor-source")
        area.soft_wrap = True
        return area

    def on_mount(self) -> None:
        table = self.query_one("#findings", DataTable)
        table.add_columns("Line", "Level", "Finding")
        self.sub_title = str(self.path)
        self.load_file()
        self.set_interval(DISK_POLL_S, self.check_disk)
        super().on_mount()

    def reload(self) -> None:
        self.check_disk()

    # -- state ---------------------------------------------------------------------------

    @property
    def source(self) -> TextArea:
        return self.query_one("#editor-source", TextArea)

    @property
    def text(self) -> str:
        return self.source.text

    @property
    def dirty(self) -> bool:
        return self.saved_text is not None and self.text != self.saved_text

    def _status(self, note: str = "") -> None:
        errors = sum(1 for f in self.findings if f.severity == "error")
        warnings = len(self.findings) - errors
        mark = "● unsaved" if self.dirty else "saved"
        parts = [self.path.name, mark, f"{errors} errors, {warnings} warnings"]
        if note:
            parts.append(note)
        self.query_one("#editor-status", Static).update("  ·  ".join(parts))

    # -- loading and watching the file ---------------------------------------------------

    def load_file(self) -> None:
        def load() -> FileLoaded:
            try:
                text = self.path.read_text(encoding="utf-8")
                mtime = self.path.stat().st_mtime_ns
            except OSError as exc:
                raise IncidentbookError(f"cannot read {self.path}: {exc.strerror}") from exc
            return FileLoaded(text, mtime)

        run_in_worker(self, load, group="editor-load", catch=IncidentbookError)

    @work(thread=True, exclusive=True, group="editor-disk")
    def check_disk(self) -> None:
        """Notice a file changed outside the app (``$EDITOR``, git, another tool)."""
        known = self.mtime_ns
        if known is None:
            return
        try:
            mtime = self.path.stat().st_mtime_ns
            if mtime == known:
                return
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return
        self.post_message(FileLoaded(text, mtime, external=True))

    @on(FileLoaded)
    def _file_loaded(self, message: FileLoaded) -> None:
        self.mtime_ns = message.mtime_ns
        if message.external:
            if message.text == self.text:
                self.saved_text = message.text
                self._status()
                return
            if self.dirty:
                self.notify(
                    f"{self.path.name} changed on disk; you have unsaved edits here. ctrl+s "
                    "keeps yours, ctrl+r loads the file.",
                    severity="warning",
                    timeout=10,
                )
                return
            self.record_changes("document changed on disk")
        elif self.saved_text is None:
            # Opening records edits made while the app was not looking (a box ticked in vim).
            self.record_changes("document opened in the editor")
        self.saved_text = message.text
        self.source.load_text(message.text)
        self._refresh_views()
        self._status("reloaded from disk" if message.external else "")

    def work_failed(self, message: WorkFailed) -> None:
        self.notify(message.error, severity="error", timeout=10)
        self._status(message.error)

    # -- live preview and lint -----------------------------------------------------------

    @on(TextArea.Changed, "#editor-source")
    def _changed(self, _event: TextArea.Changed) -> None:
        self._confirm_close = False
        self._status()
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY_S, self._refresh_views)

    def _refresh_views(self) -> None:
        text = self.text
        try:
            body = split(text, source=self.path.name).body
        except IncidentbookError:
            body = text
        self.query_one("#editor-preview", DocumentView).update_source(body)
        self.run_lint(text)

    @work(thread=True, exclusive=True, group="editor-lint")
    def run_lint(self, text: str) -> None:
        try:
            findings = lint_text(
                text, source=self.path.name, blame_only=not self._is_document(text)
            )
        except IncidentbookError as exc:
            findings = [Finding(1, 1, "error", "front-matter", str(exc))]
        self.post_message(LintDone(findings, _digest(text)))

    def _is_document(self, text: str) -> bool:
        """A postmortem or pre-mortem (full lint), or other Markdown such as a runbook."""
        try:
            kind = split(text).kind
        except IncidentbookError:
            return True
        if kind:
            return kind in ("postmortem", "premortem")
        folder = self.services.settings.postmortems_dir.resolve()
        return self.path.resolve().parent == folder

    @on(LintDone)
    def _lint_done(self, message: LintDone) -> None:
        if message.digest != _digest(self.text):
            return  # an older text; a newer lint is on its way
        self.findings = message.findings
        table = self.query_one("#findings", DataTable)
        table.clear()
        for index, finding in enumerate(message.findings):
            text = finding.message + (f" — {finding.suggestion}" if finding.suggestion else "")
            table.add_row(str(finding.line), finding.severity, text, key=str(index))
        self._status()

    @on(DataTable.RowSelected, "#findings")
    def _jump(self, event: DataTable.RowSelected) -> None:
        index = int(str(event.row_key.value))
        if 0 <= index < len(self.findings):
            self.jump_to(self.findings[index])

    def jump_to(self, finding: Finding) -> None:
        area = self.source
        row = max(0, min(finding.line - 1, area.document.line_count - 1))
        column = max(0, finding.column - 1)
        area.move_cursor((row, column))
        area.scroll_cursor_visible(center=True)
        area.focus()

    # -- actions -------------------------------------------------------------------------

    def action_save(self) -> None:
        self.save(self.text)

    def save(self, text: str) -> None:
        services = self.services

        def save() -> Saved:
            try:
                atomic_write(self.path, text)
                mtime = self.path.stat().st_mtime_ns
                report = services.documents.sync_file(
                    services.context("saved in the editor"), self.path
                )
            except OSError as exc:
                raise IncidentbookError(f"cannot save {self.path}: {exc.strerror}") from exc
            return Saved(text, mtime, _summary(report))

        run_in_worker(self, save, group="editor-save", catch=IncidentbookError)

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.saved_text = message.text
        self.mtime_ns = message.mtime_ns
        self._status(message.summary)
        self.notify(f"saved {self.path.name}" + (f": {message.summary}" if message.summary else ""))
        self.app.post_message(DataChanged("editor"))

    def record_changes(self, reason: str) -> None:
        """Record a file changed outside the editor (ticked boxes close items)."""
        services = self.services

        def record() -> ChangesRecorded:
            report = services.documents.sync_file(services.context(reason), self.path)
            return ChangesRecorded(_summary(report))

        run_in_worker(self, record, group="editor-record", exclusive=False, catch=IncidentbookError)

    @on(ChangesRecorded)
    def _changes_recorded(self, message: ChangesRecorded) -> None:
        if message.summary:
            self.notify(message.summary)

    def action_external_editor(self) -> None:
        """Edit in ``$VISUAL``/``$EDITOR`` with the app suspended, then pick the file up."""
        command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        try:
            if self.dirty:
                atomic_write(self.path, self.text)
            with self.app.suspend():
                code = subprocess.call([*shlex.split(command), str(self.path)])
        except IncidentbookError as exc:
            self.notify(str(exc), severity="error")
            return
        except Exception as exc:  # no terminal to hand over (e.g. a web session)
            self.notify(f"cannot run {command}: {exc}", severity="error")
            return
        if code != 0:
            self.notify(f"{command} exited with {code}", severity="warning")
        self.mtime_ns = -1  # force the disk check to read the file
        self.saved_text = self.text
        self.check_disk()

    def action_focus_findings(self) -> None:
        table = self.query_one("#findings", DataTable)
        if table.row_count:
            table.focus()
        else:
            self.notify("no lint findings")

    def action_next_finding(self) -> None:
        """Jump to the first finding below the cursor (wrapping to the top)."""
        if not self.findings:
            self.notify("no lint findings")
            return
        row = self.source.cursor_location[0] + 1  # 1-based line of the cursor
        following = [f for f in self.findings if f.line > row]
        target = following[0] if following else self.findings[0]
        self.jump_to(target)
        index = self.findings.index(target)
        self.query_one("#findings", DataTable).move_cursor(row=index)

    def action_toggle_preview(self) -> None:
        self.query_one("#editor-side").toggle_class("-hidden")

    def action_reload_from_disk(self) -> None:
        self.saved_text = None
        self.load_file()

    def action_export_html(self) -> None:
        """Export the file as saved (unsaved edits are not in the page: save first)."""
        if self.dirty:
            self.notify("unsaved edits: ctrl+s to save, then export", severity="warning")
            return
        settings = self.services.settings
        source = self.path

        def export() -> Exported:
            written = export_html(settings, source, default_html_path(source))
            return Exported(f"exported {shown(settings, written)}")

        run_in_worker(self, export, group="editor-export", catch=(IncidentbookError, OSError))

    def action_refresh_blocks(self) -> None:
        """``postmortem new ID --refresh``: only the generated blocks change, the file is
        loaded again."""
        if self.dirty:
            self.notify("unsaved edits: ctrl+s to save, then refresh", severity="warning")
            return
        try:
            doc = split(self.text, source=self.path.name)
        except IncidentbookError as exc:
            self.notify(str(exc), severity="error")
            return
        incident = doc.meta.get("incident")
        if doc.kind != "postmortem" or not incident:
            self.notify(
                "only a postmortem of an incident has generated blocks to refresh",
                severity="warning",
            )
            return
        services = self.services
        path = self.path

        def refresh() -> Exported:
            ctx = services.context("postmortem refreshed in the app")
            result = services.postmortems.create(str(incident), refresh=True, ctx=ctx)
            kept = (
                f"; kept hand-edited: {', '.join(result.kept_edited)}" if result.kept_edited else ""
            )
            text = path.read_text(encoding="utf-8")
            loaded = FileLoaded(text, path.stat().st_mtime_ns, external=True)
            self.post_message(loaded)
            names = ", ".join(result.refreshed) or "nothing"
            return Exported(f"refreshed {names} in {shown(services.settings, result.path)}{kept}")

        run_in_worker(self, refresh, group="editor-refresh", catch=(IncidentbookError, OSError))

    @on(Exported)
    def _exported(self, message: Exported) -> None:
        self._status(message.summary)
        self.notify(message.summary, timeout=6)
        self.app.post_message(DataChanged("editor"))

    def action_close(self) -> None:
        if self.dirty and not self._confirm_close:
            self._confirm_close = True
            self.notify("unsaved edits: ctrl+s to save, escape again to discard", timeout=6)
            return
        self.app.pop_screen()


def _summary(report: SyncReport | None) -> str:
    if report is None or not report.events:
        return ""
    counts: dict[str, int] = {}
    for event in report.events:
        verb = str(event["type"]).split(".", 1)[1]
        counts[verb] = counts.get(verb, 0) + 1
    names = {
        "done": "closed",
        "opened": "opened",
        "dropped": "dropped",
        "reopened": "reopened",
        "updated": "updated",
    }
    parts = [f"{n} action item{'s' if n != 1 else ''} {names.get(v, v)}" for v, n in counts.items()]
    return ", ".join(parts)


def start_postmortem(screen: DataScreen, incident_id: str) -> None:
    """From an incident: open its postmortem in the editor, creating it first if needed.
    The work runs in a thread worker on ``screen``; failures are notified on it."""
    run_in_worker(
        screen,
        partial(_open_or_create_postmortem, screen, incident_id),
        group="postmortem-start",
        catch=IncidentbookError,
    )


def _open_or_create_postmortem(screen: DataScreen, incident_id: str) -> ScreenRequested:
    services = screen.services
    canonical = services.incidents.get(incident_id).id
    path = find_postmortem(services.settings, canonical)
    if path is None:
        ctx = services.context("postmortem started in the app")
        path = services.postmortems.create(canonical, ctx=ctx).path
    return ScreenRequested(EditorScreen(path))
