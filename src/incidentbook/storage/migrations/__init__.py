"""Forward-only, versioned schema migrations (Alembic).

``upgrade_to_head`` runs on first use of a database. It is idempotent: a database already at
head costs one query. There are no downgrades: a database from a newer release is refused.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from incidentbook.errors import WorkspaceError

MIGRATIONS_DIR = Path(__file__).parent

# The newest revision; tests assert it equals Alembic's head, so it cannot drift.
SCHEMA_HEAD = "0009"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        has_table = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).first()
        if not has_table:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return str(row[0]) if row else None


def alembic_config(engine: Engine) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return [rev.revision for rev in script.walk_revisions()]


def upgrade_to_head(engine: Engine, target: str = "head") -> None:
    current = current_revision(engine)
    if current == SCHEMA_HEAD and target == "head":
        return
    if current is not None and current not in known_revisions():
        raise WorkspaceError(
            f"state database is at schema {current}, newer than this incidentbook knows "
            f"({SCHEMA_HEAD}); upgrade incidentbook"
        )
    from alembic import command

    command.upgrade(alembic_config(engine), target)  # type: ignore[arg-type]
