"""Scrolling a long postmortem in the document viewer (issue 14: "scrolls without lag").

    python -m bench viewer [--copies=10] [--rounds=20] [--markdown=1]

The golden postmortem's body ``--copies`` times (about 150 lines each, with its tables, HTML
comments and task items), opened in the app's ``DocumentViewScreen`` headless at 120x40. Each
round scrolls the document by 37 lines (``scroll_to``, no animation) and times the scroll to
the compositor's last call of the viewer widget's ``render_lines`` for it (a few pauses, so
every repaint the scroll caused is counted); median, best and worst over ``--rounds``.

- ours: the viewer (``ui.widgets.document_view.DocumentView``, the parser factory's tokens
  laid out once as one Rich renderable);
- reference, in the same run: a plain ``Static`` of the same Markdown text in the same
  ``VerticalScroll`` (Textual's floor for scrolling that many lines);
- with ``--markdown=1`` (default), also Textual's ``Markdown`` widget on the same text, what
  the viewer used before (fewer rounds: each of its scrolls takes long).

Also reported: opening (compose to the first paint). Target: a scroll repaints within 3x the
plain Static's time and under 100 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Markdown, Static

from bench import save_result

SIZE = (120, 40)
STEP = 37
TARGET_RATIO = 3.0
TARGET_MS = 100.0
GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "postmortem_reconciler.md"
EXTRA = """
<!-- Guidance for the author: this comment must not be shown. -->

## Action items

- [x] prevent: Idempotency key on the retry path (ana, 2026-12-01)
- [ ] detect: Alert on duplicate postings within 5 minutes (ravi, 2026-12-15)
"""


def _arg(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return int(arg.split("=", 1)[1])
    return default


def long_postmortem(copies: int) -> str:
    head, body = GOLDEN.read_text(encoding="utf-8").split("\n---\n", 1)
    return head + "\n---\n" + "\n".join([body + EXTRA] * copies)


class Marks:
    """Every ``render_lines`` call of one widget, timed (a measuring hook only)."""

    def __init__(self) -> None:
        self.last = 0.0
        self.calls = 0

    def watch(self, widget: Widget) -> None:
        render_lines = widget.render_lines

        def timed(crop: Any) -> list[Strip]:
            strips = render_lines(crop)
            self.last = time.perf_counter()
            self.calls += 1
            return strips

        widget.render_lines = timed  # type: ignore[method-assign]


async def _scrolls(
    app: App[None],
    find: Callable[[Screen[None]], tuple[VerticalScroll, Widget]],
    screen: Screen[None],
    rounds: int,
) -> dict[str, Any]:
    started = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(screen)
        for _ in range(5):
            await pilot.pause()
        opened = time.perf_counter() - started
        scroll, widget = find(screen)
        marks = Marks()
        marks.watch(widget)
        samples: list[float] = []
        height = scroll.virtual_size.height
        y = 0
        for _ in range(rounds):
            y = (y + STEP) % max(height - SIZE[1], 1)
            before = marks.calls
            start = time.perf_counter()
            scroll.scroll_to(y=y, animate=False)
            for _ in range(4):
                await pilot.pause()
            assert marks.calls > before, "the scroll repainted nothing"
            samples.append(marks.last - start)
        return {"open_s": opened, "samples": samples, "virtual_height": height}


class Viewer(App[None]):
    pass


def ours(path: Path, rounds: int) -> dict[str, Any]:
    from incidentbook.ui.screens.search import DocumentViewScreen
    from incidentbook.ui.widgets.document_view import DocumentView

    def find(screen: Screen[None]) -> tuple[VerticalScroll, Widget]:
        return screen.query_one("#doc-scroll", VerticalScroll), screen.query_one(DocumentView)

    screen = DocumentViewScreen(path, "long postmortem", path.parent)
    return asyncio.run(_scrolls(Viewer(), find, screen, rounds))


class _Plain(Screen[None]):
    def __init__(self, text: str, widget: Callable[[str], Widget]) -> None:
        super().__init__()
        self.text = text
        self.make = widget

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="doc-scroll"):
            yield self.make(self.text)


def reference(text: str, rounds: int, widget: Callable[[str], Widget]) -> dict[str, Any]:
    def find(screen: Screen[None]) -> tuple[VerticalScroll, Widget]:
        scroll = screen.query_one("#doc-scroll", VerticalScroll)
        return scroll, scroll.children[0]

    return asyncio.run(_scrolls(Viewer(), find, _Plain(text, widget), rounds))


def _summary(result: dict[str, Any]) -> dict[str, float]:
    samples = result["samples"]
    return {
        "median_ms": statistics.median(samples) * 1000,
        "best_ms": min(samples) * 1000,
        "max_ms": max(samples) * 1000,
        "open_s": result["open_s"],
    }


def bench(copies: int, rounds: int, markdown: bool) -> dict[str, Any]:
    from incidentbook.core.markdown import make_markdown

    text = long_postmortem(copies)
    with tempfile.TemporaryDirectory(prefix="ib-bench-") as tmp:
        path = Path(tmp) / "PM-0001-long.md"
        path.write_text(text, encoding="utf-8")
        got = _summary(ours(path, rounds))
    body = text.split("\n---\n", 1)[1]
    floor = _summary(reference(body, rounds, lambda t: Static(t, markup=False)))
    result: dict[str, Any] = {
        "lines": text.count("\n") + 1,
        "size": list(SIZE),
        "rounds": rounds,
        "viewer": got,
        "plain_static": floor,
        "ratio_viewer_vs_static": got["median_ms"] / floor["median_ms"],
        "target_ratio": TARGET_RATIO,
        "target_ms": TARGET_MS,
    }
    result["met"] = result["ratio_viewer_vs_static"] < TARGET_RATIO and got["median_ms"] < TARGET_MS
    if markdown:
        old = _summary(
            reference(
                body, max(3, rounds // 4), lambda t: Markdown(t, parser_factory=make_markdown)
            )
        )
        result["textual_markdown"] = old
        result["ratio_markdown_vs_static"] = old["median_ms"] / floor["median_ms"]
    return result


def main(argv: list[str]) -> None:
    r = bench(_arg(argv, "copies", 10), _arg(argv, "rounds", 20), bool(_arg(argv, "markdown", 1)))
    v, s = r["viewer"], r["plain_static"]
    lines = [
        f"Scrolling a {r['lines']}-line postmortem, headless {SIZE[0]}x{SIZE[1]}, {STEP} lines a "
        f"step (median of {r['rounds']}):",
        f"  viewer (DocumentView): {v['median_ms']:.1f} ms (best {v['best_ms']:.1f}, max "
        f"{v['max_ms']:.1f}); opened in {v['open_s']:.2f} s",
        f"  plain Static of the same text (reference): {s['median_ms']:.1f} ms (best "
        f"{s['best_ms']:.1f}, max {s['max_ms']:.1f}); opened in {s['open_s']:.2f} s",
        f"  ratio viewer/reference: {r['ratio_viewer_vs_static']:.2f}x (target < "
        f"{TARGET_RATIO:.0f}x and < {TARGET_MS:.0f} ms): {'met' if r['met'] else 'MISSED'}",
    ]
    if "textual_markdown" in r:
        m = r["textual_markdown"]
        lines.append(
            f"  Textual Markdown widget (before): {m['median_ms']:.1f} ms (max "
            f"{m['max_ms']:.1f}); opened in {m['open_s']:.2f} s; "
            f"{r['ratio_markdown_vs_static']:.1f}x the reference"
        )
    print("\n".join(lines))
    save_result("viewer", r)


if __name__ == "__main__":
    main(sys.argv[1:])
