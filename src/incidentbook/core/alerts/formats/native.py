"""Native alert lines (DESIGN §5): one JSON object per alert, validated by ``NativeAlert``."""

from __future__ import annotations

from typing import Any

from incidentbook.core.alerts.formats.common import PayloadError
from incidentbook.core.alerts.model import NativeAlert
from incidentbook.errors import UsageError


def parse_native(raw: Any) -> NativeAlert:
    """One native alert (DESIGN §5); errors come from ``NativeAlert.from_dict``."""
    try:
        return NativeAlert.from_dict(raw)
    except PayloadError:
        raise
    except UsageError as exc:
        raise PayloadError([str(exc)]) from None
