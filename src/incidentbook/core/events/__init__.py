"""The append-only event log, the product's audit trail: ``model`` (an event, its id, its JSON
text; pure), ``store`` (append and read, inside the caller's transaction) and ``projection``
(re-derive a projection from its events and compare it with the stored rows, for ``verify``)."""
