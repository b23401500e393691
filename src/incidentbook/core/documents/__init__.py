"""Postmortems and pre-mortems: Markdown documents with YAML front matter, rendered from
Jinja2 templates, linted for blame language, with action items tracked as events.

Modules: ``frontmatter`` (read/write), ``files`` (atomic writes, names), ``templating`` (the
sandboxed Jinja2 environment), ``facts`` (what the incident's events and alerts say),
``blocks`` (generated regions and ``--refresh``), ``lint`` (structure + blameless language),
``actions`` (action items), ``registry`` (the documents projection), ``related`` (search),
``postmortem`` / ``premortem`` (creating documents), ``export`` (standalone HTML).
"""
