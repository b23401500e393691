"""Alerts: one store and one dedup rule for every source (DESIGN §5).

- ``model``: the value types and the pure decisions (the dedup rule, the fold of events).
- ``store``: the raw-SQL batch writer, row <-> state conversion, SQLite lock retry.
- ``requests``: the receiver's request log.
- ``grouping``: the grouping read model (the incident candidates on the Triage screen).
- ``service``: ``AlertService``, the use cases (ingest, acknowledge, link to incidents, files).
- ``formats``: the senders' payloads (Alertmanager, PagerDuty, native lines), parsed purely.
"""
