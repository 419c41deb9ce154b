"""Both ends of ``classpulse dashboard``: the Streamlit child's command line, and its parsing.

Streamlit runs the page in a child process (``streamlit run dashboard/app.py -- ARGS``). The parent
passes the settings the user gave as flags (database URL, log level) as ARGS; the
child inherits the environment, so values that came from environment variables (DATABASE_URL,
DASHBOARD_PASSWORD, ...) reach it the same way they reached the parent, and ``Settings.load`` in the
child resolves exactly what the parent did. The password is never put on a command line, where any
local user could read it in the process list.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from classpulse.errors import UsageError
from classpulse.processes import STOP_TIMEOUT_S, start_child, stop_child
from classpulse.redact import hide_password
from classpulse.settings import Settings

log = logging.getLogger(__name__)

APP_PATH = Path(__file__).resolve().with_name("app.py")
# settings the page needs that a flag may have set, and the app flag carrying each
APP_FLAGS: Mapping[str, str] = {
    "database_url": "--database-url",
    "log_level": "--log-level",
}
# What a visitor's browser shows of an error the page did not expect. Streamlit's default, "full",
# sends the exception's message and traceback: file paths, the code around the failing line, and
# whatever the message holds (a query's values, a URL). The page is served to every teacher, and
# to anyone who reaches the login form. "type" shows the exception's class and a generic sentence,
# enough to tell the operator which failure it was; the message and the traceback still go to the
# server's log (Streamlit logs "Uncaught app execution" with the traceback at any setting). Errors
# the page expects (a database it cannot read, a link it cannot follow) it words itself.
SHOW_ERROR_DETAILS = "type"


def app_args(overrides: Mapping[str, object]) -> list[str]:
    """The page's arguments for the settings in ``overrides`` that are set (None: not given)."""
    unknown = sorted(set(overrides) - set(APP_FLAGS))
    if unknown:
        raise ValueError(
            f"the dashboard page takes no setting {unknown}; it takes {list(APP_FLAGS)}"
        )
    args: list[str] = []
    for name, flag in APP_FLAGS.items():
        value = overrides.get(name)
        if value is not None:
            args += [flag, str(value)]
    return args


def _app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dashboard/app.py", add_help=False, exit_on_error=False)
    parser.add_argument("--database-url", dest="database_url")
    parser.add_argument("--log-level", dest="log_level", type=str.upper)
    return parser


def settings_from_app_args(argv: Sequence[str]) -> Settings:
    """The page's Settings: its arguments over the environment over the defaults."""
    # the arguments hold the database URL when a flag gave it, and the page shows these errors
    # to whoever opens it, before its login: quoted with the URL's password hidden
    try:
        args, unknown = _app_parser().parse_known_args(list(argv))
    except argparse.ArgumentError as exc:
        raise UsageError(f"dashboard page arguments {[hide_password(a) for a in argv]}: "
                         f"{hide_password(str(exc))}") from None
    if unknown:
        raise UsageError(f"dashboard page arguments {[hide_password(a) for a in unknown]} are not "
                         f"understood; it takes {', '.join(APP_FLAGS.values())}")
    return Settings.load(vars(args))


def streamlit_command(
    host: str, port: int, headless: bool, overrides: Mapping[str, object]
) -> list[str]:
    """``python -m streamlit run dashboard/app.py`` with server options and the page's arguments."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--client.showErrorDetails", SHOW_ERROR_DETAILS,
        # Streamlit's own "Download as CSV" quotes only , " and newlines, so a lesson title
        # beginning = + - @ (timetables accept them) would run as a formula in a spreadsheet;
        # the page's own CSV download (numbers and times) is not affected
        "--client.disableDataExport", "true",
        "--", *app_args(overrides),
    ]


def start(command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start the Streamlit child; its output goes straight to our stdout and stderr."""
    return start_child("dashboard", command)


def stop(child: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> int:
    """Ask the child to stop (SIGTERM), kill it if it has not within ``timeout_s``; its status."""
    return stop_child(child, "dashboard", timeout_s)
