"""``classpulse db upgrade``, ``db current``, ``db grant-reader`` and ``db grant-app``: the schema
and its roles, from the command line.

``db upgrade`` also stores ``MIN_FACES_SHOWN`` (``--min-faces-shown`` or the environment), when
given, as the small-group rule every reader of the database follows (:mod:`classpulse.db.rule`),
and with ``--app-roles`` creates or updates the dashboard's and the consumers' login roles and
grants them (:func:`classpulse.db.roles.ensure_app_roles`). ``db grant-reader ROLE`` lets a
PostgreSQL role read the shown minutes and nothing the rule hides, and ``db grant-app ROLE --for
dashboard|consumer`` gives a role what that service needs and nothing else: both are
:func:`classpulse.db.roles.grant`, with the analysts' or the service's Access.

Only argparse here; Alembic and SQLAlchemy are imported inside the handlers so ``classpulse --help``
stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from classpulse.flags import positive_int
from classpulse.settings import APP_DB_ROLES, Settings, SettingsError, parse_weights

if TYPE_CHECKING:
    from classpulse.db.roles import RoleGrant


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``db`` command and its ``upgrade``, ``current``, ``grant-reader`` and
    ``grant-app`` actions."""
    db = subparsers.add_parser(
        "db", help="database schema: migrate to the newest revision, show the current one, "
        "prepare roles for analysts and for ClassPulse's services"
    )
    actions = db.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="migrate DATABASE_URL to the newest schema (safe to run again)"
    )
    upgrade.add_argument("--revision", default="head",
                         help="target revision (default: head, the newest)")
    upgrade.add_argument("--min-faces-shown", dest="min_faces_shown", type=positive_int,
                         default=None,
                         help="store this small-group threshold (MIN_FACES_SHOWN): minutes in "
                         "which no camera read at least this many faces per frame on average are "
                         "hidden everywhere; default: keep the stored one "
                         f"({Settings.min_faces_shown} in a new database)")
    upgrade.add_argument("--engagement-weights", dest="engagement_weights", type=_weights,
                         default=None, metavar="EMOTION=W,...",
                         help="store the weights every consumer scores engagement with "
                         "(ENGAGEMENT_WEIGHTS, e.g. neutral=0.8,happy=0.7; unnamed emotions keep "
                         "their default): consumers pick them up after their next flush, minutes "
                         "counted before keep theirs; default: keep the stored ones")
    upgrade.add_argument("--app-roles", dest="app_roles", action="store_true",
                         help="then create or update the PostgreSQL login roles "
                         f"{' and '.join(app.role for app in APP_DB_ROLES.values())} with the "
                         f"passwords in {' and '.join(a.variable for a in APP_DB_ROLES.values())}"
                         ", and grant each what its service needs (grant-app; PostgreSQL only, as "
                         "the tables' owner)")
    upgrade.set_defaults(handler=run_upgrade)
    current = actions.add_parser("current", help="print the revision DATABASE_URL is at")
    current.set_defaults(handler=run_current)
    reader = actions.add_parser(
        "grant-reader",
        help="let an existing PostgreSQL role read the shown minutes, the rollups and the "
        "timetable, and nothing the small-group rule hides (revokes all else; safe to run again)",
    )
    reader.add_argument("role", metavar="ROLE", help="the role, created beforehand "
                        "(CREATE ROLE analyst LOGIN PASSWORD ...)")
    reader.set_defaults(handler=run_grant_reader)
    app = actions.add_parser(
        "grant-app",
        help="let an existing PostgreSQL role do what the dashboard or a consumer needs and "
        "nothing else (revokes all else; safe to run again)",
    )
    app.add_argument("role", metavar="ROLE", help="the role, created beforehand (CREATE ROLE "
                     f"{APP_DB_ROLES['dashboard'].role} LOGIN PASSWORD ...)")
    app.add_argument("--for", dest="service", required=True, choices=tuple(APP_DB_ROLES),
                     help="dashboard: SELECT on what the page reads; consumer: the writes of a "
                     "flush and the reads before it")
    app.set_defaults(handler=run_grant_app)


def _weights(text: str) -> Mapping[str, float]:
    try:
        return parse_weights(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.migrate import current, engagement_weights, min_faces, upgrade
    from classpulse.db.rule import requested_min_faces
    from classpulse.db.weights import requested_weights, weights_text
    from classpulse.redact import hide_password

    url = settings.database_url
    passwords = None
    if args.app_roles:
        from classpulse.db.roles import app_role_passwords

        passwords = app_role_passwords(url, settings)  # refused before anything is migrated
    upgrade(url, args.revision, requested_min_faces(settings), requested_weights(settings))
    revision = current(url)
    print(f"{hide_password(url)} is at revision {revision}")
    threshold = min_faces(url)
    if threshold is not None:
        print(f"small-group rule: minutes in which no camera read at least {threshold} faces "
              "per frame on average are hidden (MIN_FACES_SHOWN)")
    weights = engagement_weights(url)
    if weights is not None:
        print(f"engagement weights: {weights_text(weights)} (ENGAGEMENT_WEIGHTS)")
    if passwords is not None:
        from classpulse.db.roles import ensure_app_roles

        for how, done in ensure_app_roles(url, passwords):
            print(f"role {done.role} {how}: LOGIN, password from "
                  f"{APP_DB_ROLES[done.kind].variable}")
            _print_grant(done)
    return 0


def run_current(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.migrate import current, head_revision, is_known, require_existing_file

    require_existing_file(settings.database_url)
    revision = current(settings.database_url)
    if revision is None:
        print("not migrated (run: classpulse db upgrade)")
        return 1
    head = head_revision()
    if revision == head:
        note = ""
    elif is_known(revision):
        note = f" (newest is {head}; run upgrade)"
    else:  # `db upgrade` cannot go back; this ClassPulse is the older side
        note = (f" (newer than this ClassPulse knows, its newest is {head}; upgrade ClassPulse to "
                "the version that migrated it)")
    print(f"{revision}{note}")
    return 0


def run_grant_reader(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.roles import READER, grant

    _print_grant(grant(settings.database_url, args.role, READER))
    return 0


def run_grant_app(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.roles import ACCESS, grant

    _print_grant(grant(settings.database_url, args.role, ACCESS[args.service]))
    return 0


def _print_grant(done: RoleGrant) -> None:
    may = [*done.granted, *(f"USAGE on sequence {name}" for name in done.sequences)]
    print(f"role {done.role} may, for the {done.kind}, with USAGE on schema {done.schema}: "
          f"{'; '.join(may)}")
    taken = "; ".join(done.taken_back) if done.taken_back else "nothing else was held"
    print(f"revoked from role {done.role} every other privilege on ClassPulse's tables, views "
          f"and sequences: {taken}")
