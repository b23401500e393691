"""The HTTP alert receiver behind ``incidentbook serve``: Starlette served by uvicorn.

``create_app`` builds the ASGI app (importable without starting anything); ``server.serve``
runs it. Nothing is imported from Starlette or uvicorn until one of them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette


def create_app(*args: Any, **kwargs: Any) -> Starlette:
    from incidentbook.receiver.app import create_app as factory  # deferred: see the docstring

    return factory(*args, **kwargs)
