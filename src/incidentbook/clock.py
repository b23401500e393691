"""UTC time, one format everywhere: ISO-8601 with a trailing Z, microseconds when present."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Render an aware datetime as UTC ISO-8601 text that sorts correctly as a string."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: incidentbook stores UTC only")
    # isoformat, not strftime: glibc's %Y writes year 1 as "1", which would not sort.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def to_iso_short(moment: datetime) -> str:
    """Like ``to_iso``, with microseconds only when there are any (``2026-10-17T14:23:08Z``):
    the form search results and "seen before" entries show."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: incidentbook stores UTC only")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse ISO-8601 text (``Z`` or an offset; naive text is taken as UTC). Anything that is
    not such a time, or whose UTC moment falls outside years 1-9999 (``0001-01-01T00:00+01:00``),
    is a ``ValueError``."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range in UTC (years 1 to 9999)") from None


def humanize_age(seconds: float) -> str:
    """'45s', '12m', '3h 5m', '2d 4h': short enough for a table cell."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
