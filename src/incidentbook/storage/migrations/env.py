"""Alembic environment: runs against the engine incidentbook passes in, never a URL from a file."""

from __future__ import annotations

from alembic import context

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    # render_as_batch: SQLite alters tables by copy-and-rename; Alembic's batch mode does it.
    context.configure(connection=connection, render_as_batch=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
