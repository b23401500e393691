"""Postmortems and pre-mortems: Markdown documents with YAML front matter, rendered from
Jinja2 templates, linted for blame language, with action items tracked as events.

Modules: ``model`` (document and action-item states, apply/derive; no SQL), ``store`` (their
tables and queries), ``service`` (``DocumentService``: syncing files into events), ``verify``
(re-deriving the projections), ``files`` (where documents live), ``templating`` (the sandboxed
Jinja2 environment), ``facts`` (what the incident's events and alerts say), ``blocks``
(generated regions and ``--refresh``), ``lint`` (structure + blameless language), ``actions``
(action items in Markdown), ``risks`` (the pre-mortem risk register), ``related`` (search),
``postmortem`` / ``premortem`` (``PostmortemService`` / ``PremortemService``: creating
documents), ``export`` (standalone HTML).
"""
