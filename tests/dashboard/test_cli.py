"""``classpulse dashboard``: what reaches the Streamlit child, and the errors a user can fix."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from classpulse.cli import build_parser, main
from classpulse.errors import UsageError
from classpulse.processes import check_port_free
from dashboard import launch


def test_defaults_port_host_headless() -> None:
    args = build_parser().parse_args(["dashboard"])
    assert (args.port, args.host, args.headless) == (8501, "127.0.0.1", True)
    args = build_parser().parse_args(["dashboard", "--no-headless", "--port", "9000"])
    assert (args.port, args.headless) == (9000, False)


def test_streamlit_command_passes_flag_settings_after_the_double_dash() -> None:
    command = launch.streamlit_command(
        "0.0.0.0", 8600, True, {"database_url": "sqlite:///x.db", "log_level": None},
    )
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(launch.APP_PATH)]
    options = dict(zip(command[5:-3:2], command[6:-3:2], strict=True))
    assert options["--server.address"] == "0.0.0.0"
    assert options["--server.port"] == "8600"
    assert options["--server.headless"] == "true"
    # a visitor sees an unexpected error's type, not its message and traceback (the log has them)
    assert options["--client.showErrorDetails"] == "type"
    # no "Download as CSV" on tables: Streamlit's export leaves a title's leading = + - @ a formula
    assert options["--client.disableDataExport"] == "true"
    assert command[-3:] == ["--", "--database-url", "sqlite:///x.db"]


def test_the_page_reads_back_what_the_parent_passed() -> None:
    argv = launch.app_args({"database_url": "sqlite:///y.db", "log_level": "debug"})
    settings = launch.settings_from_app_args(argv)
    assert (settings.database_url, settings.log_level) == ("sqlite:///y.db", "DEBUG")


def test_the_password_and_the_threshold_never_go_on_a_command_line() -> None:
    with pytest.raises(ValueError, match="dashboard_password"):
        launch.app_args({"dashboard_password": "s3cret"})
    # the small-group threshold is the database's rule (classpulse db upgrade stores it)
    with pytest.raises(ValueError, match="min_faces_shown"):
        launch.app_args({"min_faces_shown": 5})


def test_bad_page_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--nope"):
        launch.settings_from_app_args(["--nope", "1"])
    with pytest.raises(UsageError, match="--min-faces-shown"):
        launch.settings_from_app_args(["--min-faces-shown", "3"])


def test_bad_page_arguments_never_show_the_database_password() -> None:
    """The page shows these errors to whoever opens it, before its login; they quoted every
    argument, the database URL with its password."""
    for argv in (["--database-url", "postgresql+psycopg://ops:s3cret@db/cp", "--log-level"],
                 ["--database-url", "postgresql+psycopg://ops:s3cret@db/cp",
                  "--bogus=postgresql+psycopg://ops:s3cret@db/cp"]):
        with pytest.raises(UsageError) as info:
            launch.settings_from_app_args(argv)
        assert "s3cret" not in str(info.value)
        assert "postgresql+psycopg://ops:***@db/cp" in str(info.value)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_taken_port_fails_in_one_line(
    busy_port: int, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboard", "--port", str(busy_port), "--database-url", sqlite_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"classpulse dashboard: cannot listen on 127.0.0.1:{busy_port}")
    assert "--port" in err and "\n" not in err


@pytest.mark.parametrize(("host", "says"), [
    ("192.0.2.1", "--host 192.0.2.1 is not an address of this machine; give one of its "
                  "addresses, 127.0.0.1 (this machine only) or 0.0.0.0 (every network)"),
    ("no-such-host.invalid", "--host 'no-such-host.invalid' is no IP address and no name this "
                             "machine can resolve; give one of its addresses, 127.0.0.1"),
])
def test_a_host_that_is_not_this_machines_is_named_as_such(host: str, says: str) -> None:
    """Both said that another program used the port, and to pass another --port."""
    with pytest.raises(UsageError) as refused:
        check_port_free(host, 8501)
    message = str(refused.value)
    assert message.startswith(f"cannot listen on {host}:8501 (") and says in message, message
    assert "--port" not in message


def test_a_secrets_file_that_is_no_toml_stops_the_dashboard_in_one_line(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Streamlit takes a secrets file it cannot parse for no file at all: the page would have
    started with its sign-in off. It now refuses to start, naming the file, line and column."""
    monkeypatch.chdir(tmp_path)
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('[auth]\nclient_id = "x"\nclient_secret = oops\n', encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["dashboard", "--port", str(port), "--database-url", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"classpulse dashboard: the secrets file {secrets}, line 3, column 17 "
                          "is not valid TOML: "), err
    assert err.count("\n") == 1 and "oops" not in err


def test_sign_in_settings_outside_an_auth_section_stop_the_dashboard_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt [Auth] turned no sign-in on, and the page started open to anyone."""
    from dashboard.cli import check_secrets

    monkeypatch.chdir(tmp_path)
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('[Auth]\nclient_id = "x"\nclient_secret = "s3cret"\n', encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        check_secrets()
    message = str(refused.value)
    assert message.startswith(f"the secrets file {secrets} has no [auth] section but holds "
                              "sign-in settings (section [Auth]): "), message
    assert "\n" not in message and "s3cret" not in message
    secrets.write_text('[auth]\nclient_id = "x"\ncookie_secret = "' + SECRET + '"\n'
                       'allowed_email_domains = ["school.example"]\n', encoding="utf-8")
    check_secrets()


@pytest.mark.parametrize(("cookie", "said"), [
    ('cookie_secret = ""\n', "cookie_secret in [auth] is empty: "),
    ("", "cookie_secret in [auth] is missing: "),
    ('cookie_secret = "hunter2"\n', "cookie_secret in [auth] is 7 characters long: "),
    ('cookie_secret = "' + "changeme" * 4 + '"\n',
     "cookie_secret in [auth] is made of 7 different characters: "),
    ("cookie_secret = \"a long random string, e.g. from: python -c 'import secrets; "
     "print(secrets.token_urlsafe(32))'\"\n",
     "cookie_secret in [auth] is words or the command that makes one, not its output: "),
    ("cookie_secret = \"python -c 'import secrets; print(secrets.token_urlsafe(32))'\"\n",
     "cookie_secret in [auth] is words or the command that makes one, not its output: "),
    ('cookie_secret = "' + "password1234" * 3 + '"\n',
     "cookie_secret in [auth] is a few characters repeated: "),
])
def test_a_guessable_cookie_secret_stops_the_dashboard_in_one_line(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], cookie: str, said: str
) -> None:
    """Streamlit signs its login cookie with [auth]'s cookie_secret and checks only that the key
    exists: deploy/secrets.example.toml's empty one started a dashboard whose sign-in anyone
    could forge. It now refuses to start, without quoting the secret; the same section with a
    long secret starts (check_secrets passes)."""
    from dashboard.cli import check_secrets

    monkeypatch.chdir(tmp_path)
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    section = ('[auth]\nclient_id = "c"\nclient_secret = "s"\n'
               'allowed_email_domains = ["school.example"]\n')
    secrets.write_text(section + cookie, encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["dashboard", "--port", str(port), "--database-url", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("classpulse dashboard: the single sign-on in the secrets ("), err
    assert said in err and "token_urlsafe" in err, err
    assert err.count("\n") == 1 and "hunter2" not in err and "changeme" not in err
    assert "password1234" not in err
    secrets.write_text(section + 'cookie_secret = "' + SECRET + '"\n', encoding="utf-8")
    check_secrets()


# a cookie secret as `python -c 'import secrets; print(secrets.token_urlsafe(32))'` gives one
SECRET = "pVh3Zq0yK8rT1mXc5NwB7uJd2LfA9sEgQ4iYoR6tH0k"


def test_the_sign_in_streamlit_reads_is_the_last_files_auth_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamlit replaces an earlier secrets file's [auth] with a later one's whole: a valid
    [auth] in ./.streamlit over a stale one in the home folder opens the page (the check refused
    it, reading the stale keys), and a cookie_secret only in the home folder's [auth] is none
    (the check let it start, the page closed)."""
    from classpulse.errors import UsageError
    from dashboard.cli import check_secrets

    home, here = tmp_path / "home", tmp_path / "here"
    for folder in (home, here):
        (folder / ".streamlit").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(here)
    whole = ('[auth]\nclient_id = "c"\nclient_secret = "s"\ncookie_secret = "' + SECRET + '"\n'
             'allowed_email_domains = ["school.example"]\n')
    (home / ".streamlit" / "secrets.toml").write_text(
        '[auth]\ncookie_secret = ""\nallowed_email_domains = ["*.school.example"]\n',
        encoding="utf-8")
    (here / ".streamlit" / "secrets.toml").write_text(whole, encoding="utf-8")
    check_secrets()
    (home / ".streamlit" / "secrets.toml").write_text(
        '[auth]\ncookie_secret = "' + SECRET + '"\n', encoding="utf-8")
    (here / ".streamlit" / "secrets.toml").write_text(
        whole.replace('cookie_secret = "' + SECRET + '"\n', ""), encoding="utf-8")
    with pytest.raises(UsageError, match="cookie_secret in \\[auth\\] is missing"):
        check_secrets()


def test_an_unmigrated_database_fails_with_the_fix(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    Path(sqlite_url.removeprefix("sqlite:///")).touch()  # exists, never migrated
    assert main(["dashboard", "--port", str(port), "--database-url", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert "has no ClassPulse tables" in err and "classpulse db upgrade" in err


def test_a_database_at_an_older_revision_fails_with_the_fix(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dashboard over a database one upgrade behind logged a warning and opened, then each page
    said "Cannot read the ClassPulse tables: column r.revised does not exist"."""
    from classpulse.db.migrate import head_revision, upgrade

    upgrade(sqlite_url, "0013_shown_views")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["dashboard", "--port", str(port), "--database-url", sqlite_url]) == 2
    assert capsys.readouterr().err == (
        f"classpulse dashboard: database {sqlite_url} is at revision 0013_shown_views, older "
        f"than this dashboard reads ({head_revision()}); run `classpulse db upgrade` first\n")


def test_an_unreachable_database_fails_with_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://nobody:pw@127.0.0.1:1/none"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["dashboard", "--port", str(port), "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to database" in err and "pw" not in err


def test_a_min_faces_shown_other_than_the_databases_stops_the_dashboard(
    migrated_sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rule: a dashboard started with MIN_FACES_SHOWN=5 over a database that hides groups
    below 3 would say one thing and show another, so it refuses to start and says the fix."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MIN_FACES_SHOWN", "5")
    assert main(["dashboard", "--port", str(port), "--database-url", migrated_sqlite_url]) == 2
    err = capsys.readouterr().err
    assert "MIN_FACES_SHOWN=5 is set for the dashboard" in err
    assert "fewer than 3 faces read" in err
    assert "classpulse db upgrade --min-faces-shown 5" in err
    with pytest.raises(SystemExit):
        main(["dashboard", "--min-faces-shown", "5"])  # the flag is gone: the database decides


def test_a_streamlit_child_killed_by_a_signal_is_128_plus_its_number(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its return code -9 went to sys.exit, and the dashboard exited 247."""
    from classpulse.db.migrate import upgrade

    upgrade(sqlite_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    killed = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    monkeypatch.setattr(launch, "streamlit_command", lambda *args: killed)
    assert main(["dashboard", "--port", str(port), "--database-url", sqlite_url]) == 137
