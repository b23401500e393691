"""Incidents, event-sourced: ``model`` (ids, state, the pure fold of events), ``store`` (the
``incidents`` projection table), ``service`` (the use cases) and ``timeline`` (one line per
event on an incident's timeline)."""
