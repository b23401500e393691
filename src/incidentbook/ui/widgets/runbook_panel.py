"""The runbook for an alert, rendered (``DocumentView``) beside it (Triage and Incident embed this).

``panel.show_alert(name, labels, annotations, summary)`` links the alert to runbooks in the
order of DESIGN §6 (in a thread worker) and renders the best match; the other matches, with the
rule that linked each, are listed above it. ``panel.show_runbook(ref)`` renders one runbook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static

from incidentbook.core.runbooks.loader import load_runbooks
from incidentbook.core.runbooks.matching import match_runbooks
from incidentbook.core.runbooks.model import RunbookMatch
from incidentbook.ui.messages import WorkFailed
from incidentbook.ui.widgets.document_view import DocumentView
from incidentbook.ui.widgets.workspace_panel import WorkspacePanel
from incidentbook.ui.workers import run_in_worker

if TYPE_CHECKING:
    from incidentbook.services import Services


@dataclass
class RunbooksMatched(Message):
    matches: list[RunbookMatch]
    alert_name: str


class RunbookPanel(WorkspacePanel):
    DEFAULT_CSS = """
    RunbookPanel { height: 1fr; border: round $secondary; padding: 0 1; }
    RunbookPanel > #runbook-why { color: $text-muted; height: auto; }
    RunbookPanel > DocumentView { height: auto; margin: 0; padding: 0; }
    """

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, title="Runbook", **kwargs)
        self.matches: list[RunbookMatch] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="runbook-why")
        # laid out once per runbook (Textual's Markdown widget rebuilt a widget tree for every
        # row the cursor passed on Triage)
        yield DocumentView("", id="runbook-body")

    def show_alert(
        self,
        alert_name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        summary: str = "",
    ) -> None:
        self.query_one("#runbook-why", Static).update(f"finding the runbook for {alert_name}…")
        labels, annotations = dict(labels or {}), dict(annotations or {})

        def match() -> RunbooksMatched:
            matches = match_runbooks(
                self.settings, alert_name, labels, annotations, summary=summary,
                suggester=self.services.runbook_suggester,
            )
            return RunbooksMatched(matches, alert_name)

        # Errors are shown in the panel, never a crash.
        run_in_worker(self, match, group="runbook-panel", subject=alert_name)

    def show_runbook(self, ref: str) -> None:
        rb = load_runbooks(self.settings).get(ref)
        if rb is None:
            self._show_matches([], ref, f"no runbook {ref!r}")
        else:
            self._show_matches([RunbookMatch(rb, "linked", "linked to this incident")], ref, None)

    @on(RunbooksMatched)
    def _matched(self, message: RunbooksMatched) -> None:
        message.stop()
        self._show_matches(message.matches, message.alert_name, None)

    def work_failed(self, message: WorkFailed) -> None:
        self._show_matches([], message.subject, message.error)

    def _show_matches(
        self, matches: list[RunbookMatch], alert_name: str, error: str | None
    ) -> None:
        self.matches = matches
        why = self.query_one("#runbook-why", Static)
        body = self.query_one("#runbook-body", DocumentView)
        if error:
            why.update(Text(error, style="red"))
            body.update_source("")
            return
        if not matches:
            why.update(
                f"No runbook for {alert_name}. Add one under runbooks/ with front matter "
                f"`alerts: [{alert_name}]`."
            )
            body.update_source("")
            return
        best = matches[0]
        lines = Text()
        label = "suggested" if best.suggestion else best.rule
        lines.append(f"{best.runbook.title}", style="bold")
        lines.append(f"  [{label}] {best.reason}\n")
        for other in matches[1:]:
            tag = "suggestion" if other.suggestion else other.rule
            lines.append(f"  also: {other.runbook.id} [{tag}] {other.reason}\n", style="dim")
        why.update(lines)
        self.border_title = f"Runbook: {best.runbook.id}"
        body.update_source(best.runbook.body)
