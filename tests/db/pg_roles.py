"""Helpers for the tests of PostgreSQL roles (grant-reader, grant-app, upgrade --app-roles): what a
role holds, and whether a statement run as it is refused for want of a privilege."""

from __future__ import annotations

from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

# what a command prints, as its one line, when PostgreSQL refuses the user in its URL a right
REFUSED = ("classpulse {command}: database {url} refused this user: {reason}; connect as the owner "
           "of ClassPulse's tables, the user that creates them with `classpulse db upgrade` "
           "(compose.yaml: the migrate service's), or, for the dashboard or a consumer, as a role "
           "it granted with `classpulse db grant-app` (DATABASE_URL or --database-url)")
PASSWORD = "s3cretpw"  # trust authentication ignores it; no message may show it


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def role_urls(url: str, role: str) -> tuple[str, str]:
    """``url`` (the owner's, without a password) connecting as ``role`` with :data:`PASSWORD`,
    and how a message shows it."""
    scheme, _, rest = url.partition("://")
    host = rest.partition("@")[2]
    return f"{scheme}://{role}:{PASSWORD}@{host}", f"{scheme}://{role}:***@{host}"


def denied(engine: Engine, statement: str) -> bool:
    """Whether ``statement`` fails, run on ``engine``, for want of a privilege (any other outcome,
    success or another error, is False)."""
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except ProgrammingError as exc:
        return isinstance(exc.orig, InsufficientPrivilege)
    return False


def privileges(engine: Engine, role: str) -> list[tuple[str, str]]:
    """Every privilege granted to ``role`` itself in the database, on tables, views and sequences
    (``relation``) and on columns (``relation.column``)."""
    grantee = "(SELECT oid FROM pg_roles WHERE rolname = :role)"
    with engine.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT c.relname, a.privilege_type FROM pg_class AS c "
            f"CROSS JOIN LATERAL aclexplode(c.relacl) AS a WHERE a.grantee = {grantee} "
            "UNION ALL SELECT c.relname || '.' || t.attname, a.privilege_type FROM pg_class AS c "
            "JOIN pg_attribute AS t ON t.attrelid = c.oid "
            f"CROSS JOIN LATERAL aclexplode(t.attacl) AS a WHERE a.grantee = {grantee}"),
            {"role": role}).all())
