"""incidentbook's own state: SQLite via SQLModel, schema by Alembic. Never imports textual."""
