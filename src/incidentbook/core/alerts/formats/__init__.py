"""Alert payload formats (DESIGN §5): Alertmanager webhook v4, PagerDuty Events v2, native lines.

Each parser is pure: it turns decoded JSON into validated values or raises ``PayloadError``
with one message per problem, each naming the offending field (``alerts[2].startsAt: …``), so
the receiver can answer 400 with the list and the CLI can print it next to a line number.
Nothing here touches the database: ``AlertService.ingest_lines`` stores what ``files`` parses.

- ``common``: ``PayloadError``, JSON decoding, severity words, the field-error collector.
- ``alertmanager``, ``pagerduty``, ``native``: one sender's payloads each.
- ``files``: JSON lines from files and pipes (line receipts, the file-ingest report).
"""
