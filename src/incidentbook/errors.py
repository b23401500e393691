"""The error types every layer raises; the CLI turns them into one-line messages and exit codes."""

from __future__ import annotations

# Exit codes of DESIGN §10: 0 ok, 1 findings or a failed check, 2 bad usage or input.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class IncidentbookError(Exception):
    """An expected failure with a message fit to show the user as is."""

    exit_code = EXIT_USAGE


class UsageError(IncidentbookError):
    """Bad arguments or input: nothing was written."""


class NotFoundError(IncidentbookError):
    """A named object (incident, alert, account, file) does not exist."""


class WorkspaceError(IncidentbookError):
    """No workspace, or a workspace that cannot be used."""


class ConflictError(IncidentbookError):
    """The request contradicts the current state (e.g. an idempotency key reused differently)."""


class CheckFailed(IncidentbookError):
    """A check ran and found problems."""

    exit_code = EXIT_FINDINGS
