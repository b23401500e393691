"""Run work off the UI thread and report it by message: the one place that turns a worker's
exception into the text people see. Workers never touch widgets."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker

from incidentbook.errors import IncidentbookError
from incidentbook.ui.messages import WorkFailed

Catchable = type[Exception] | tuple[type[Exception], ...]


def failure_text(exc: Exception) -> str:
    """Our own errors are written for people and shown as they are; others get their type."""
    if isinstance(exc, IncidentbookError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def post_outcome(
    node: DOMNode,
    compute: Callable[[], Message],
    *,
    subject: str = "",
    catch: Catchable = Exception,
) -> None:
    """Call ``compute`` (in the worker's thread) and post the message it returns to ``node``,
    or a ``WorkFailed`` with the error's text when it raises one of ``catch``."""
    try:
        message = compute()
    except catch as exc:
        node.post_message(WorkFailed(failure_text(exc), subject))
        return
    node.post_message(message)


def run_in_worker(
    node: DOMNode,
    compute: Callable[[], Message],
    *,
    group: str,
    exclusive: bool = True,
    subject: str = "",
    catch: Catchable = Exception,
) -> Worker[None]:
    """Start a thread worker on ``node`` that runs ``compute`` and posts its message, or
    ``WorkFailed`` (see ``post_outcome``)."""
    return node.run_worker(
        partial(post_outcome, node, compute, subject=subject, catch=catch),
        name=group,
        group=group,
        exclusive=exclusive,
        thread=True,
    )
