"""The ledger side: the contract of DESIGN §4, the reconciler, account audit lookups, the demo.

The ledger is the user's database: incidentbook only reads it (SQLite is opened read-only).
Only the demo generator writes a ledger, a file of its own making.
"""
