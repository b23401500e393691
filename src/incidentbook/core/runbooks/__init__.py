"""Runbooks (DESIGN §6): ``model`` (the parsed file and its values), ``loader`` (the workspace's
and the shipped runbooks), ``matching`` (alert -> runbook, suggestions from a suggester it is
given), ``lint`` (sections, staleness, links, alerts no runbook covers) and ``store`` (the
alerts lint reads)."""
