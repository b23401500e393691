"""Generated regions of a document and ``--refresh``.

A template marks each region it fills from facts::

    <!-- incidentbook:begin timeline -->
    ...generated...
    <!-- incidentbook:end timeline -->

When a document is written, each begin marker is stamped with a short hash of the region's
content (``<!-- incidentbook:begin timeline sha=1a2b3c4d -->``). ``refresh`` replaces a region
with freshly rendered content only while its content still matches that stamp; a region someone
edited by hand is kept as it is (and reported), and every line outside the regions is kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from incidentbook.core.documents.actions import strip_comments

BEGIN_RE = re.compile(r"^\s*<!--\s*incidentbook:begin\s+([\w.-]+)(?:\s+sha=([0-9a-f]+))?\s*-->\s*$")
END_RE = re.compile(r"^\s*<!--\s*incidentbook:end\s+([\w.-]+)\s*-->\s*$")


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:8]


def begin_marker(name: str, sha: str | None = None) -> str:
    return f"<!-- incidentbook:begin {name}{f' sha={sha}' if sha else ''} -->"


def end_marker(name: str) -> str:
    return f"<!-- incidentbook:end {name} -->"


@dataclass
class Region:
    name: str
    sha: str | None
    begin: int  # index of the begin marker line
    end: int  # index of the end marker line
    content: list[str]

    @property
    def edited(self) -> bool:
        """True when the content no longer matches the stamp written with it."""
        return self.sha is not None and digest(self.content) != self.sha


def regions(lines: list[str]) -> list[Region]:
    found: list[Region] = []
    index = 0
    while index < len(lines):
        match = BEGIN_RE.match(lines[index])
        if match:
            name, sha = match.group(1), match.group(2)
            for end in range(index + 1, len(lines)):
                end_match = END_RE.match(lines[end])
                if end_match and end_match.group(1) == name:
                    found.append(Region(name, sha, index, end, lines[index + 1 : end]))
                    index = end
                    break
        index += 1
    return found


def stamp(text: str) -> str:
    """Stamp every region's begin marker with the hash of its content."""
    lines = text.split("\n")
    for region in regions(lines):
        lines[region.begin] = begin_marker(region.name, digest(region.content))
    return "\n".join(lines)


def is_generated_line(lines: list[str]) -> list[bool]:
    """For each line: is it a marker or inside a generated region?"""
    flags = [False] * len(lines)
    for region in regions(lines):
        for i in range(region.begin, region.end + 1):
            flags[i] = True
    return flags


@dataclass
class RefreshResult:
    text: str
    refreshed: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def refresh(existing: str, fresh: str) -> RefreshResult:
    """Replace the untouched generated regions of ``existing`` with those of ``fresh``."""
    fresh_regions = {r.name: r for r in regions(fresh.split("\n"))}
    lines = existing.split("\n")
    result = RefreshResult(text="")
    out: list[str] = []
    cursor = 0
    present: set[str] = set()
    for region in regions(lines):
        present.add(region.name)
        out.extend(lines[cursor : region.begin])
        new = fresh_regions.get(region.name)
        if new is None or region.edited:
            if region.edited:
                result.kept_edited.append(region.name)
            out.extend(lines[region.begin : region.end + 1])
        else:
            out.append(begin_marker(region.name, digest(new.content)))
            out.extend(new.content)
            out.append(end_marker(region.name))
            result.refreshed.append(region.name)
        cursor = region.end + 1
    out.extend(lines[cursor:])
    result.missing = [name for name in fresh_regions if name not in present]
    result.text = "\n".join(out)
    return result


def without_comments(body: str) -> str:
    """The body with HTML comments (template guidance, region markers) removed, for reading:
    the preview and the HTML export. Fenced code is left as it is."""
    out: list[str] = []
    in_fence = False
    in_comment = False
    for line in body.split("\n"):
        if not in_comment and line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        if in_fence:
            out.append(line)
            continue
        visible, in_comment_after = strip_comments(line, in_comment)
        touched = in_comment or in_comment_after or "<!--" in line
        in_comment = in_comment_after
        if touched and not visible.strip():
            continue
        out.append(visible.rstrip() if touched else line)
    return "\n".join(out)
