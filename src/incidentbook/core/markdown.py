"""The one Markdown parser factory: the app's preview and the HTML export both use it.

CommonMark plus GFM tables, strikethrough and task lists; raw HTML in the source is not
passed through (``html=False``), so a note with ``<script>`` renders as text.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin


def make_markdown() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.use(front_matter_plugin)
    parser.use(tasklists_plugin, enabled=False)
    return parser
