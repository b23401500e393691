"""Evidence frozen at detection (DESIGN §4 "Evidence"): the affected accounts' ledger rows and
entries, as canonical JSON with a SHA-256 per account and one for the set."""
