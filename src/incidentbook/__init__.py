"""incidentbook: incidents, alerts, runbooks and postmortems for the operator of a money ledger."""

__version__ = "0.1.0"
