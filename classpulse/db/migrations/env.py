"""Alembic environment for ClassPulse: connection and URL come from our code, never the environment.

``classpulse.db.migrate`` builds the Alembic config in code and hands over an open connection
(``config.attributes["connection"]``); there is no offline (``--sql``) mode. SQLite runs in batch
mode, since it cannot ALTER most things in place.
"""

from __future__ import annotations

from alembic import context

import classpulse.db.models  # noqa: F401  (fills Base.metadata)
from classpulse.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
