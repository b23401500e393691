"""Shared test helpers that are not fixtures: the in-process CLI driver, a real PostgreSQL
server, the receiver's live server and webhook payloads, hand-made ledgers, the documents
scenario and waiting for the app. Fixtures stay in the ``conftest.py`` files and use these."""
