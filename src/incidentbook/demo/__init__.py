"""``incidentbook demo``: a workspace to explore at once. ``run`` holds the typed list of steps
(past incidents, a ledger and a reconcile, postmortems, alerts from the other senders, the
search index), each idempotent; ``model`` the options and report they share. Above the core:
the core never imports it (import-linter)."""
