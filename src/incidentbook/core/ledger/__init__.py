"""The ledger side: the contract of DESIGN §4 (``contract``), the checks (``checks``), the
scan's tasks and worker processes (``tasks``, ``workers``), the reconciler (``reconcile/``),
account audit lookups (``audit``).

The ledger is the user's database: incidentbook only reads it (SQLite is opened read-only).
Only the demo generator (``incidentbook.demo.ledger``) writes a ledger, a file of its own making.
"""
