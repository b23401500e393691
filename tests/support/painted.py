"""What a widget paints: its rendered lines as plain text (the strips the compositor crops)."""

from __future__ import annotations

from textual.geometry import Region
from textual.widget import Widget


def painted_text(widget: Widget) -> str:
    """Every line ``widget`` renders at its current size, as text."""
    width, height = widget.size
    strips = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(strip.text.rstrip() for strip in strips)
