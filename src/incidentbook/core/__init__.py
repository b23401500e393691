"""The domain: incidents, alerts, ledger, runbooks, documents, search. Never imports textual."""
