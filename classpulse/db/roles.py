"""PostgreSQL roles that may do what one part of ClassPulse needs, and nothing else.

The owner of ClassPulse's tables (the user that runs ``classpulse db upgrade``; in compose.yaml the
bootstrap superuser) may do anything, a shell on the database server included (``COPY ... TO
PROGRAM``). Only migrations need it. Each other part gets a role of its own, prepared by one
function here from one :class:`Access`, which names every privilege that part needs:

- :data:`READER`, analysts (``classpulse db grant-reader ROLE``): the shown minutes, the rollups
  and the timetable, nothing the small-group rule hides (the owner and the services' roles read
  the hidden minutes too);
- :data:`DASHBOARD` (``classpulse db grant-app ROLE --for dashboard``): SELECT only, on what the
  page and its start-up check read;
- :data:`CONSUMER` (``--for consumer``): the writes of a flush (:mod:`classpulse.db.writes`) and
  the reads before them, nothing on the timetable, the small-group rule or the weights but reading
  the weights.

:func:`grant` gives the role what its Access names and takes back every other privilege it holds
on ClassPulse's tables, views and their sequences, in one transaction, so running it again changes
nothing and it tightens a role granted more by hand. It refuses, changing nothing, a role that
would still read or change more than its Access through something it cannot revoke (a superuser,
a role of the owner, a role it belongs to, a grant to PUBLIC, default privileges) or that reaches
past the tables (CREATEROLE, REPLICATION, the server's programs and files).
:func:`ensure_app_roles` creates or updates the dashboard's and the consumers' LOGIN roles of
compose.yaml (:data:`classpulse.settings.APP_DB_ROLES`) and grants each its Access; the password is
hashed here (SCRAM-SHA-256), so neither it nor a statement holding it reaches the server's log.

PostgreSQL reads a view's tables with the rights of the view's owner, so SELECT on a view needs no
right on its tables. Tables a later migration creates are usable by their owner alone until
granted (nothing in ClassPulse alters default privileges), and a migration that rebuilds a view
drops its grants: run the grants again after every upgrade (compose's ``migrate`` does).

SQLite has no roles: whoever can read its file reads every minute, and whoever can write it
changes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from classpulse.db.engine import failure_reason, make_engine, parse_url
from classpulse.errors import UsageError
from classpulse.redact import hide_password
from classpulse.settings import APP_DB_ROLES, Settings

TABLE = ()  # a privilege on the whole table, not on some of its columns
CREATE_ROLE = "CREATE ROLE {role} LOGIN PASSWORD '...'"
# ClassPulse's relations (``:names``) in the schema the connection uses, as ``c``
_RELATIONS = ("pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
              "AND n.nspname = current_schema() AND c.relname = ANY(:names)")
# the privileges a role may hold on a table or view, and on a sequence
_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
# PostgreSQL 17's MAINTAIN (VACUUM, ANALYZE, REINDEX, LOCK TABLE: a role holding it could lock the
# table the consumers write, compose.yaml's server being 17); older servers know no such word, and
# their has_table_privilege refuses it
_MAINTAIN_FROM_VERSION = 170000
_COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")
# SELECT on a sequence (its last value: how many rows were ever inserted) is taken back but not
# refused when a role it belongs to holds it (pg_read_all_data does); USAGE and UPDATE draw and set
# values, and a sequence set back fails the inserts that use it
_SEQUENCE_PRIVILEGES = ("USAGE", "UPDATE")
# predefined roles that reach past the tables: programs run as the server's user
# (COPY ... TO PROGRAM), and the server's files (the data directory holds every table)
SERVER_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files")
# an application role's password: a URL's unreserved characters (RFC 3986), which compose.yaml may
# write into a database URL as they are
_URL_SAFE_PASSWORD = re.compile(r"[A-Za-z0-9._~-]+")


@dataclass(frozen=True)
class Access:
    """What one kind of role may do on ClassPulse's relations: per relation, per privilege, the
    columns (:data:`TABLE`: the whole table); USAGE on the sequences of the ``sequences`` tables
    (their ``serial`` ids); USAGE on the schema. The other fields word the refusals."""

    kind: str  # whom the privileges are for, as a grant's summary words it: "for the analysts"
    who: str  # whom to give a role: "analysts a role of their own"
    example: str  # a role's name for the example CREATE ROLE
    privileges: Mapping[str, Mapping[str, tuple[str, ...]]]
    sequences: tuple[str, ...] = ()
    sqlite_fix: str = ""  # the end of the SQLite refusal: what to do instead

    def allows(self, relation: str, privilege: str, column: str | None = None) -> bool:
        columns = self.privileges.get(relation, {}).get(privilege)
        return columns is not None and (columns == TABLE or column in columns)

    def kept(self) -> set[str]:
        """The privileges it gives, worded as :func:`_held` words those a role holds."""
        return {f"{privilege} on {relation}" if columns == TABLE
                else f"{privilege} ({column}) on {relation}"
                for relation, granted in self.privileges.items()
                for privilege, columns in granted.items()
                for column in (columns or (None,))}

    def granted(self) -> tuple[str, ...]:
        """The privileges it gives, one line a relation: ``SELECT, UPDATE (count) on t``."""
        return tuple(
            ", ".join(p if cols == TABLE else f"{p} ({', '.join(cols)})" for p, cols in g.items())
            + f" on {relation}" for relation, g in sorted(self.privileges.items()))


@dataclass(frozen=True)
class RoleGrant:
    """What :func:`grant` left the role: ``granted`` (:meth:`Access.granted`, and USAGE on the
    ``sequences``) with USAGE on ``schema``, and the privileges it held before and no longer holds
    (``"SELECT on emotion_minutes"``)."""

    role: str
    kind: str
    schema: str
    granted: tuple[str, ...]
    sequences: tuple[str, ...]
    taken_back: tuple[str, ...]


def _select(*names: str) -> dict[str, dict[str, tuple[str, ...]]]:
    return {name: {"SELECT": TABLE} for name in names}


# What analysts may SELECT, and why each is safe. Rows of shown minutes only (0013); sums over
# shown minutes, the hidden ones only counted (0006, 0007, 0011); names, time zones and the
# timetable, nothing per minute; the rule and the weights the numbers follow.
READABLE: tuple[str, ...] = (
    "shown_camera_minutes", "shown_class_minutes",
    "class_days", "class_hour_of_week", "lesson_summaries",
    "classrooms", "cameras", "lessons",
    "small_group_rule", "engagement_weights",
)
READER = Access("analysts", "analysts a role of their own", "analyst", _select(*READABLE),
                sqlite_fix="give analysts a PostgreSQL database, or no copy of the file")

# The dashboard reads (dashboard/sql.py, lesson_sql.py; dashboard/cli.py's start-up check): the
# minutes, shown and hidden, through the views (to count the hidden ones and say why faces went
# unread); the revision, the rule, the weights, the classrooms and cameras; and of
# emotion_minutes only when the newest minute was last written (fetch_last_write). Not the
# counts of emotion_minutes, which hold the minute under way that no view shows (0014); not
# lessons (lesson_summaries has their columns), nor the consumers' bookkeeping.
DASHBOARD = Access(
    "dashboard", "the dashboard a role of its own", APP_DB_ROLES["dashboard"].role,
    {**_select("alembic_version", "camera_minutes", "class_minutes", "lesson_summaries",
               "classrooms", "cameras", "small_group_rule", "engagement_weights"),
     "emotion_minutes": {"SELECT": ("camera_id", "classroom_id", "minute_start", "updated_at")}},
    sqlite_fix="run the dashboard on PostgreSQL to give it a role of its own")


def _consumer_access() -> Access:
    from classpulse.db.writes import ADDITIVE_COLUMNS

    # A flush (consumers/sink.py, classpulse/db/writes.py) upserts minutes and rejections, adding
    # to the counts (UPDATE of the counts only, and of ``revised`` when the minute had closed: a
    # minute never moves to another camera or room),
    # moves offsets by compare-and-set, records log resets (a serial id: the sequence, and the id
    # SQLAlchemy reads back), and remembers and forgets the frames counted; it registers unseen
    # cameras and classrooms (ON CONFLICT DO NOTHING: never changed). Before: the revision
    # (--no-migrate's check), the weights, the offsets and frames stored. No lessons, no rule,
    # no writes to the weights, no views.
    return Access(
        "consumer", "the consumers a role of their own", APP_DB_ROLES["consumer"].role,
        {**_select("alembic_version", "engagement_weights"),
         "classrooms": {"SELECT": ("id",), "INSERT": TABLE},
         "cameras": {"SELECT": ("id",), "INSERT": TABLE},
         "emotion_minutes": {"SELECT": TABLE, "INSERT": TABLE,
                             "UPDATE": (*ADDITIVE_COLUMNS, "updated_at", "revised")},
         "rejected_frames": {"SELECT": TABLE, "INSERT": TABLE, "UPDATE": ("count",)},
         "consumer_offsets": {"SELECT": TABLE, "INSERT": TABLE, "UPDATE": ("next_offset",)},
         "offset_resets": {"SELECT": ("id",), "INSERT": TABLE},
         "seen_frames": {"SELECT": TABLE, "INSERT": TABLE, "DELETE": TABLE}},
        sequences=("offset_resets",),
        sqlite_fix="run the consumers on PostgreSQL to give them a role of their own")


CONSUMER = _consumer_access()
ACCESS: Mapping[str, Access] = MappingProxyType({a.kind: a for a in (READER, DASHBOARD, CONSUMER)})


def classpulse_relations() -> tuple[str, ...]:
    """Every table and view of ClassPulse's schema at the newest revision, sorted (a test checks
    this against a migrated database)."""
    import classpulse.db.models  # noqa: F401  (fills Base.metadata)
    from classpulse.db.base import Base
    from classpulse.db.views import VIEWS

    return tuple(sorted({*Base.metadata.tables, "alembic_version", *(v.name for v in VIEWS)}))


def grant(url: str, role: str, access: Access) -> RoleGrant:
    """Give the existing PostgreSQL ``role`` what ``access`` names and take back every other
    privilege it holds on ClassPulse's tables, views and sequences, in one transaction.

    Refused, as one :class:`UsageError` and with nothing changed: SQLite, a database not at the
    newest revision, a role that does not exist, a superuser or a role of the tables' owner, a
    role that reaches past the tables (CREATEROLE, REPLICATION, :data:`SERVER_ROLES`), a
    connection that does not own the tables (PostgreSQL would only warn and grant nothing), and a
    role that would still read or change more, through a role it belongs to, a grant to PUBLIC or
    default privileges on tables created later.
    """
    with _owner_transaction(url, access.sqlite_fix) as conn:
        return _grant(conn, role, access)


def app_role_passwords(url: str, settings: Settings) -> dict[str, str]:
    """The password of each role of :data:`~classpulse.settings.APP_DB_ROLES` from ``settings``,
    checked before anything is migrated: one :class:`UsageError` on SQLite or while one is
    missing."""
    if parse_url(url).get_backend_name() == "sqlite":
        raise UsageError(f"--app-roles makes PostgreSQL roles, and {hide_password(url)} is SQLite, "
                         "which has none; leave --app-roles out")
    passwords = {kind: getattr(settings, app.field) for kind, app in APP_DB_ROLES.items()}
    missing = [APP_DB_ROLES[kind].variable for kind, value in passwords.items() if value is None]
    if missing:
        raise UsageError(
            f"--app-roles sets the passwords of the roles "
            f"{', '.join(app.role for app in APP_DB_ROLES.values())} from "
            f"{' and '.join(app.variable for app in APP_DB_ROLES.values())}; set "
            f"{' and '.join(missing)} in the environment (compose: in .env, see "
            "deploy/.env.example)"
        )
    for kind, value in passwords.items():
        # compose.yaml writes them into its services' database URLs as they are, where an @, a
        # / or a # ends the password early; a URL's unreserved characters are safe there (the
        # value itself is never shown: it is a secret)
        if _URL_SAFE_PASSWORD.fullmatch(value) is None:
            raise UsageError(
                f"{APP_DB_ROLES[kind].variable} holds characters other than letters, digits and "
                "- . _ ~, which break the database URL it becomes part of (compose.yaml); set it "
                "to those only, e.g. from `openssl rand -hex 24`"
            )
    return passwords


def ensure_app_roles(url: str, passwords: Mapping[str, str]) -> list[tuple[str, RoleGrant]]:
    """Create (or update) the LOGIN role of each kind in ``passwords`` (``"dashboard"``,
    ``"consumer"``), named as :data:`~classpulse.settings.APP_DB_ROLES` says, set its password and
    :func:`grant` it its Access, all in one transaction; per role
    ``("created" | "updated", grant)``.

    The password is hashed here (SCRAM-SHA-256, as psql's ``\\password`` does) and only the hash
    is sent, as an escaped literal: the password is on no command line, in no statement the server
    may log, in no message. An existing role keeps its other attributes; :func:`grant` refuses it
    when they reach past its Access (a superuser, CREATEROLE, ...).
    """
    from classpulse.db.migrate import MIGRATION_LOCK_KEY

    unknown = sorted(set(passwords) - set(APP_DB_ROLES))
    if unknown:
        raise ValueError(f"no app role for {unknown}; there are {sorted(APP_DB_ROLES)}")
    done = []
    with _owner_transaction(url, "run ClassPulse's services on PostgreSQL to give them roles of "
                            "their own", creates_roles=True) as conn:
        # one migrate at a time, and not while another upgrades (two CREATE ROLE would collide)
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        for kind, password in passwords.items():
            role = APP_DB_ROLES[kind].role
            how = _set_login(conn, role, password)
            done.append((how, _grant(conn, role, ACCESS[kind])))
    return done


@contextmanager
def _owner_transaction(url: str, sqlite_fix: str, creates_roles: bool = False
                       ) -> Iterator[Connection]:
    """A transaction on ``url`` for granting: SQLite and other revisions refused first, and what
    the database refuses turned into one :class:`UsageError`, everything rolled back."""
    import psycopg

    shown = hide_password(url)
    if parse_url(url).get_backend_name() == "sqlite":
        raise UsageError(
            f"roles are PostgreSQL's; on SQLite whoever can read the file reads everything "
            f"({shown}): {sqlite_fix}"
        )
    _require_head(url)  # a user refused alembic_version fails there as one line (migrate._connect)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    except (DBAPIError, psycopg.Error) as exc:
        raise UsageError(
            f"cannot grant on {shown}: {failure_reason(exc)}; connect as the owner of "
            "ClassPulse's tables (the user that runs `classpulse db upgrade`)"
            + (", a superuser or one with CREATEROLE" if creates_roles else "")
        ) from None
    finally:
        engine.dispose()


def _require_head(url: str) -> None:
    from classpulse.db.migrate import head_revision, require_migrated

    revision, head = require_migrated(url), head_revision()
    if revision != head:
        raise UsageError(
            f"database {hide_password(url)} is at revision {revision}, not {head}, the one this "
            "ClassPulse grants on; run `classpulse db upgrade` first (same DATABASE_URL / "
            "--database-url)"
        )


def _set_login(conn: Connection, role: str, password: str) -> str:
    """Create ``role`` (LOGIN, no other attribute) or set its password and LOGIN; which it did."""
    from psycopg import sql

    if not password:
        raise UsageError(f"no password for role {role!r}")
    driver = conn.connection.driver_connection
    verifier = driver.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"),
                          {"role": role}).scalar() is not None
    statement = sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}" if exists
                        else "CREATE ROLE {} LOGIN PASSWORD {}")
    # sent by the driver on the connection's transaction, the hash an escaped literal (utility
    # statements take no bound parameters)
    with driver.cursor() as cursor:
        cursor.execute(statement.format(sql.Identifier(role), sql.Literal(verifier.decode())))
    return "updated" if exists else "created"


def _grant(conn: Connection, role: str, access: Access) -> RoleGrant:
    quote = conn.dialect.identifier_preparer.quote_identifier
    relations = classpulse_relations()
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    role_oid = _check_role(conn, role, relations, access)
    sequences = _sequences(conn, relations)
    held = _held(conn, role_oid, (*relations, *_all(sequences)))
    # identifiers cannot be bound parameters: quoted (always, quotes inside doubled) and sent to
    # the driver as they are, since text() would read a ":" in a role name as a parameter
    grantee = quote(role)
    tables = ", ".join(quote(name) for name in relations)
    conn.exec_driver_sql(f"REVOKE ALL ON TABLE {tables} FROM {grantee}")
    if sequences:
        names = ", ".join(quote(name) for name in _all(sequences))
        conn.exec_driver_sql(f"REVOKE ALL ON SEQUENCE {names} FROM {grantee}")
    # USAGE only: a role that may CREATE in the schema could plant a function or an operator
    # that the owner's unqualified queries pick up
    creates = conn.execute(text("SELECT has_schema_privilege(:oid, :schema, 'CREATE')"),
                           {"oid": role_oid, "schema": schema}).scalar_one()
    conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {quote(schema)} FROM {grantee}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {grantee}")
    for relation, privileges in sorted(access.privileges.items()):
        listed = ", ".join(
            p if cols == TABLE else f"{p} ({', '.join(quote(c) for c in cols)})"
            for p, cols in privileges.items())
        conn.exec_driver_sql(f"GRANT {listed} ON TABLE {quote(relation)} TO {grantee}")
    usable = tuple(s for table in access.sequences for s in sequences.get(table, ()))
    if usable:
        conn.exec_driver_sql(
            f"GRANT USAGE ON SEQUENCE {', '.join(quote(s) for s in usable)} TO {grantee}")
    _check_nothing_left(conn, role, role_oid, relations, sequences, usable, access)
    kept = access.kept() | {f"USAGE on {name}" for name in usable}
    taken_back = tuple(p for p in held if p not in kept) + ((f"CREATE on schema {schema}",)
                                                            if creates else ())
    return RoleGrant(role, access.kind, schema, access.granted(), usable, taken_back)


def _check_role(conn: Connection, role: str, relations: Sequence[str], access: Access) -> int:
    """The role's oid, once it is known to be a role of its own the connected user may grant to,
    that reaches no further than its grants."""
    quoted = conn.dialect.identifier_preparer.quote(role)
    own = f"give {access.who} ({CREATE_ROLE.format(role=access.example)})"
    found = conn.execute(text(
        "SELECT oid, rolsuper, rolcreaterole, rolreplication FROM pg_roles WHERE rolname = :role"),
        {"role": role}).one_or_none()
    if found is None:
        raise UsageError(
            f"PostgreSQL role {role!r} does not exist; create it first "
            f"({CREATE_ROLE.format(role=quoted)}), then run this again"
        )
    if found.rolsuper:
        raise UsageError(
            f"role {role!r} is a superuser, which reads every table whatever is granted; {own}"
        )
    owners = conn.execute(text(
        "SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner, "
        "pg_has_role(current_user, c.relowner, 'USAGE') AS mine, "
        "pg_has_role(:role, c.relowner, 'MEMBER') AS theirs "
        f"FROM {_RELATIONS}"), {"role": role, "names": list(relations)}).all()
    if any(o.theirs for o in owners):
        raise UsageError(
            f"role {role!r} owns ClassPulse's tables or belongs to their owner "
            f"({', '.join(sorted(o.owner for o in owners))}), so it reads everything; {own}"
        )
    beyond = [f"may create roles and so give itself any right (ALTER ROLE {quoted} "
              "NOCREATEROLE)"] if found.rolcreaterole else []
    if found.rolreplication:
        beyond.append(f"may replicate, which copies every table (ALTER ROLE {quoted} "
                      "NOREPLICATION)")
    members_of = conn.execute(text(
        "SELECT g FROM unnest(CAST(:server AS text[])) AS g WHERE pg_has_role(:oid, g, 'MEMBER') "
        "ORDER BY g"), {"server": list(SERVER_ROLES), "oid": int(found.oid)}).scalars().all()
    if members_of:
        beyond.append(f"belongs to {', '.join(members_of)}, which runs programs or reads and "
                      f"writes files on the database server (REVOKE {', '.join(members_of)} "
                      f"FROM {quoted})")
    if beyond:
        raise UsageError(f"role {role!r} {'; and '.join(beyond)}; change that, then run this "
                         "again (nothing was changed)")
    if not all(o.mine for o in owners):
        user = conn.execute(text("SELECT current_user")).scalar_one()
        raise UsageError(
            f"connected as {user}, which does not own ClassPulse's tables (owner: "
            f"{', '.join(sorted(o.owner for o in owners))}) and so cannot grant or revoke on "
            "them; connect as the owner (the user that runs `classpulse db upgrade`)"
        )
    return int(found.oid)


def _sequences(conn: Connection, relations: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The sequences of ClassPulse's tables (``serial`` and identity columns), per table."""
    rows = conn.execute(text(
        "SELECT c.relname AS owner, s.relname AS sequence "
        f"FROM {_RELATIONS} JOIN pg_depend AS d ON d.refobjid = c.oid "
        "AND d.refclassid = 'pg_class'::regclass AND d.classid = 'pg_class'::regclass "
        "AND d.deptype IN ('a', 'i') JOIN pg_class AS s ON s.oid = d.objid AND s.relkind = 'S' "
        "ORDER BY 1, 2"), {"names": list(relations)}).all()
    found: dict[str, tuple[str, ...]] = {}
    for row in rows:
        found[row.owner] = (*found.get(row.owner, ()), row.sequence)
    return found


def _all(sequences: Mapping[str, Iterable[str]]) -> list[str]:
    return sorted(s for names in sequences.values() for s in names)


def _held(conn: Connection, role_oid: int, relations: Sequence[str]) -> tuple[str, ...]:
    """The privileges granted to the role itself on ``relations``, tables' and columns'."""
    rows = conn.execute(text(
        "SELECT a.privilege_type || ' on ' || c.relname AS held "
        f"FROM {_RELATIONS} CROSS JOIN LATERAL aclexplode(c.relacl) AS a WHERE a.grantee = :oid "
        "UNION "
        "SELECT a.privilege_type || ' (' || t.attname || ') on ' || c.relname "
        f"FROM {_RELATIONS} JOIN pg_attribute AS t ON t.attrelid = c.oid "
        "CROSS JOIN LATERAL aclexplode(t.attacl) AS a WHERE a.grantee = :oid"),
        {"oid": role_oid, "names": list(relations)})
    return tuple(sorted(rows.scalars()))


def table_privileges(conn: Connection) -> list[str]:
    """The privileges a role may hold on a table or view on this server: MAINTAIN from
    PostgreSQL 17 on."""
    version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    return [*_TABLE_PRIVILEGES, *(("MAINTAIN",) if version >= _MAINTAIN_FROM_VERSION else ())]


def _check_nothing_left(conn: Connection, role: str, role_oid: int, relations: Sequence[str],
                        sequences: Mapping[str, Sequence[str]], usable: Sequence[str],
                        access: Access) -> None:
    """After the revoke and the grants: privileges the role holds beyond ``access`` other than by
    its own grants (a role it belongs to, PUBLIC) or would get on tables created later refuse the
    whole command."""
    effective = conn.execute(text(
        "SELECT c.relname AS relation, NULL AS column, p.name AS privilege "
        f"FROM {_RELATIONS} CROSS JOIN unnest(CAST(:table_privileges AS text[])) AS p(name) "
        "WHERE has_table_privilege(:role, c.oid, p.name) "
        "UNION ALL "
        "SELECT c.relname, t.attname, p.name "
        f"FROM {_RELATIONS} JOIN pg_attribute AS t ON t.attrelid = c.oid AND t.attnum > 0 "
        "AND NOT t.attisdropped CROSS JOIN unnest(CAST(:column_privileges AS text[])) AS p(name) "
        "WHERE has_column_privilege(:role, c.oid, t.attnum, p.name) "
        "AND NOT has_table_privilege(:role, c.oid, p.name)"),
        {"role": role, "names": list(relations), "table_privileges": table_privileges(conn),
         "column_privileges": list(_COLUMN_PRIVILEGES)}).all()
    left = {r.relation for r in effective if not access.allows(r.relation, r.privilege, r.column)}
    sequence_rows = conn.execute(text(
        "SELECT c.relname AS relation, p.name AS privilege "
        f"FROM {_RELATIONS} CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(name) "
        # the CASE keeps the function from rows of pg_class that are no sequence (PostgreSQL
        # may test it before the names)
        "WHERE CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(:role, c.oid, p.name) END"),
        {"role": role, "names": _all(sequences),
         "privileges": list(_SEQUENCE_PRIVILEGES)}).all()
    left |= {r.relation for r in sequence_rows
             if not (r.relation in usable and r.privilege == "USAGE")}
    listed = sorted(left)
    if conn.execute(text("SELECT has_schema_privilege(:oid, current_schema(), 'CREATE')"),
                    {"oid": role_oid}).scalar_one():
        listed.append("the schema (CREATE)")
    if listed:
        member_of = conn.execute(text(
            "SELECT string_agg(pg_get_userbyid(m.roleid), ', ' ORDER BY m.roleid) "
            "FROM pg_auth_members AS m WHERE m.member = :oid"), {"oid": role_oid}).scalar()
        raise UsageError(
            f"role {role!r} could still read or change {', '.join(listed)} after the revoke, "
            f"through a role it belongs to ({member_of or 'none'}) or a grant to PUBLIC; revoke "
            "that, then run this again (nothing was changed)"
        )
    later = conn.execute(text(
        "SELECT pg_get_userbyid(d.defaclrole) AS definer, "
        "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE :role END AS grantee "
        "FROM pg_default_acl AS d CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a "
        "WHERE d.defaclobjtype = 'r' AND a.grantee IN (0, :oid) AND d.defaclnamespace IN "
        "(0, (SELECT oid FROM pg_namespace WHERE nspname = current_schema())) "
        "ORDER BY 1, 2 LIMIT 1"), {"role": role, "oid": role_oid}).one_or_none()
    if later is not None:
        quote = conn.dialect.identifier_preparer.quote
        grantee = later.grantee if later.grantee == "PUBLIC" else quote(later.grantee)
        raise UsageError(
            f"default privileges of role {later.definer!r} give {later.grantee!r} the tables it "
            "creates later (a new migration's too); revoke them (ALTER DEFAULT PRIVILEGES FOR "
            f"ROLE {quote(later.definer)} [IN SCHEMA ...] REVOKE ALL ON TABLES FROM {grantee}), "
            "then run this again (nothing was changed)"
        )
