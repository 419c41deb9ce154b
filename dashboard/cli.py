"""``classpulse dashboard``: the Streamlit teacher dashboard, in a child process.

Only argparse here; Streamlit and SQLAlchemy are imported by the handler. Before starting Streamlit
the handler checks what a user can fix (port taken, a secrets file that is no TOML, database
unreachable or not migrated), so those fail in one line at once instead of as a page error later.
"""

from __future__ import annotations

import argparse
import logging

from classpulse.flags import DASHBOARD_HOST, DASHBOARD_PORT, port
from classpulse.processes import check_port_free
from classpulse.settings import Settings

log = logging.getLogger(__name__)



def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dashboard",
        help="the Streamlit teacher dashboard (class emotion and engagement trends)",
        description="Serve the teacher dashboard with Streamlit. It reads DATABASE_URL (or "
        "--database-url); set DASHBOARD_PASSWORD to ask visitors for a password (it is passed to "
        "the page through the environment, never on a command line). Small groups are hidden by "
        "the database's rule (MIN_FACES_SHOWN, stored by `classpulse db upgrade`).",
    )
    parser.add_argument("--port", type=port, default=DASHBOARD_PORT,
                        help=f"port to serve on (default {DASHBOARD_PORT})")
    parser.add_argument("--host", default=DASHBOARD_HOST,
                        help=f"address to listen on (default {DASHBOARD_HOST}; 0.0.0.0 for all)")
    parser.add_argument("--headless", action=argparse.BooleanOptionalAction, default=True,
                        help="do not open a browser window (default: headless)")
    parser.set_defaults(handler=run_dashboard)


def check_database(settings: Settings) -> None:
    """Fail with the fix when the database cannot be reached, was never migrated or is at an
    older revision than this dashboard reads (its views lack what the page asks for: the page
    opened, then said "column r.revised does not exist"), or hides small groups by another
    threshold than a MIN_FACES_SHOWN given to the dashboard. A newer revision, which a newer
    ClassPulse migrated, is only warned of: the views it reads are kept as they were."""
    from classpulse.db.migrate import head_revision, is_known, min_faces, require_migrated
    from classpulse.db.rule import requested_min_faces
    from classpulse.errors import UsageError
    from classpulse.redact import hide_password

    url = settings.database_url
    revision, head = require_migrated(url), head_revision()
    if revision != head and is_known(revision):
        raise UsageError(f"database {hide_password(url)} is at revision {revision}, older than "
                         f"this dashboard reads ({head}); run `classpulse db upgrade` first")
    if revision != head:
        log.warning("database revision=%s is newer than this dashboard knows (its newest: %s); "
                    "upgrade the dashboard to the version that migrated it", revision, head)
    wanted, stored = requested_min_faces(settings), min_faces(url)
    if wanted is not None and stored is not None and wanted != stored:
        raise UsageError(
            f"MIN_FACES_SHOWN={wanted} is set for the dashboard, but the database hides minutes "
            f"with fewer than {stored} faces read (its small-group rule, which every view "
            f"applies); store yours with `classpulse db upgrade --min-faces-shown {wanted}`, or "
            "unset MIN_FACES_SHOWN here"
        )


def check_secrets() -> None:
    """Fail with the file, line and column when a secrets file the page's Streamlit reads
    (``.streamlit/secrets.toml`` here or in the home folder, or next to the page) cannot be read
    as TOML, or with the file and what it holds when its sign-in settings lie outside an
    ``[auth]`` section (``[Auth]``, ``client_id`` above any section), or with what to set when
    its ``[auth]`` names nobody who may sign in or has a cookie secret anyone could guess: the
    page would let nobody in (or, with a guessable secret, anyone who forges a cookie), and say
    why only in its log."""
    from classpulse.errors import UsageError
    from dashboard.auth import (
        mistyped_sign_in,
        secrets_files,
        sign_in_refusal,
        unreadable_secrets,
    )
    from dashboard.launch import APP_PATH

    paths = secrets_files(APP_PATH)
    problem = unreadable_secrets(paths) or mistyped_sign_in(paths) or sign_in_refusal(paths)
    if problem is not None:
        raise UsageError(problem)


def run_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.lifecycle import StopFlag
    from dashboard import launch

    check_port_free(args.host, args.port)
    check_secrets()
    check_database(settings)
    # only what came as flags: the child inherits the environment for everything else
    overrides = {name: getattr(args, name, None) for name in launch.APP_FLAGS}
    command = launch.streamlit_command(args.host, args.port, args.headless, overrides)
    print(f"ClassPulse dashboard on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    with StopFlag() as stop:
        child = launch.start(command)
        try:
            while child.poll() is None and not stop.wait(0.5):
                pass
        finally:
            status = launch.stop(child)
    if stop.is_set():
        return 0
    # a Streamlit child killed by signal N: 128 + N, as a shell reports it (sys.exit(-9) was 247)
    return 128 - status if status < 0 else status
