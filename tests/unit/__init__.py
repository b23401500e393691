"""Unit tests of the core, storage and the shared kernel (real SQLite and PostgreSQL, no UI)."""
