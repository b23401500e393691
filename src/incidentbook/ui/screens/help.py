"""Help: every key of the screen below and of the app, with what it does."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown

from incidentbook.core.markdown import make_markdown

INTRO = """\
# incidentbook

Triage shows firing **alert groups** and **open incidents**, worst first. Acknowledge a group
to open (or join) its incident. Every change is an event with who, when, why and a correlation
id; `incidentbook verify` proves the state matches the events.

**ctrl+p** opens the command palette: every action below is there too.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close", id="help.close"),
        Binding("question_mark", "app.pop_screen", "Close", show=False, id="help.close2"),
    ]

    def __init__(self, below: Screen[Any]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(self.text(), parser_factory=make_markdown)

    def text(self) -> str:
        """The help for the screen it was opened from, and the keys that work everywhere."""
        rows: list[str] = []
        seen: set[str] = set()
        sources: list[tuple[str, DOMNode]] = [("This screen", self.below), ("Everywhere", self.app)]
        for title, node in sources:
            bindings = [b for b in node.BINDINGS if isinstance(b, Binding) and b.description]
            if not bindings:
                continue
            rows.append(f"\n## {title}\n\n| key | action |\n|---|---|")
            for binding in bindings:
                if binding.id in seen:
                    continue
                seen.add(binding.id or binding.action)
                key = binding.key_display or binding.key
                rows.append(f"| `{key}` | {binding.tooltip or binding.description} |")
        return INTRO + "\n".join(rows) + "\n"
