"""Alembic environment for ClassPulse: connection and URL come from our code, never the environment.

``classpulse.db.migrate`` builds the Alembic config in code and hands over either an open
connection (``config.attributes["connection"]``, the normal path) or a URL
(``config.attributes["database_url"]``, for offline ``--sql`` rendering). SQLite runs in batch mode,
since it cannot ALTER most things in place.
"""

from __future__ import annotations

from alembic import context

import classpulse.db.models  # noqa: F401  (fills Base.metadata)
from classpulse.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    url = config.attributes["database_url"]
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


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


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
