"""Guessing the dashboard password is slowed down, per browser session and for all of them."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from classpulse.cli import main
from classpulse.settings import Settings, SettingsError
from dashboard.auth import (
    FIRST_WAIT_S,
    FREE_FAILURES,
    LONGEST_WAIT_S,
    OVERALL_FAILURES,
    OVERALL_WINDOW_S,
    LoginThrottle,
    SessionFailures,
)
from tests.dashboard.pages import APP, open_page, texts

PASSWORD = "s3cret"


def test_a_session_waits_longer_after_each_wrong_password_beyond_the_free_ones() -> None:
    throttle, session = LoginThrottle(overall_failures=1000), SessionFailures()
    now = 100.0
    for _ in range(FREE_FAILURES):
        assert throttle.wait_s(session, now) == 0
        throttle.failed(session, now)
        now += 0.1
    waits = []
    for _ in range(10):
        wait = throttle.wait_s(session, now)
        waits.append(round(wait + 0.1, 6))  # measured 0.1 s after the last failure
        now += wait
        assert throttle.wait_s(session, now) == 0  # after waiting, one more try
        throttle.failed(session, now)
        now += 0.1
    assert waits[:4] == [FIRST_WAIT_S, 2 * FIRST_WAIT_S, 4 * FIRST_WAIT_S, 8 * FIRST_WAIT_S]
    assert waits[-1] == LONGEST_WAIT_S
    assert throttle.wait_s(SessionFailures(), now) == 0  # another session is not held up


def test_wrong_passwords_from_all_sessions_make_every_session_wait() -> None:
    throttle = LoginThrottle()
    for i in range(OVERALL_FAILURES):  # each from a new session: never the per-session rule
        throttle.failed(SessionFailures(), 10.0 + i)
    newcomer = SessionFailures()
    assert throttle.wait_s(newcomer, 20.0) == pytest.approx(10.0 + OVERALL_WINDOW_S - 20.0)
    assert throttle.wait_s(newcomer, 10.0 + OVERALL_WINDOW_S - 0.5) == pytest.approx(0.5)
    assert throttle.wait_s(newcomer, 10.0 + OVERALL_WINDOW_S) == 0  # the first one has aged out


def new_session() -> AppTest:
    """Another browser session on the same server process (its caches, its environment)."""
    return AppTest.from_file(str(APP), default_timeout=60).run()


def attempt(at: AppTest, password: str) -> list[str]:
    at.text_input[0].input(password)
    at.button[0].click().run()
    return texts(at)["error"]


def test_the_page_refuses_even_the_right_password_while_a_session_must_wait(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, migrated_sqlite_url, password=PASSWORD).run()
    for _ in range(FREE_FAILURES):
        assert any("Wrong password" in e for e in attempt(at, "guess"))
    (error,) = attempt(at, PASSWORD)
    assert error == f"Too many wrong passwords. Try again in {FIRST_WAIT_S:.0f} seconds."
    assert at.text_input  # still at the form: the right password was not even compared

    other = new_session()
    assert not attempt(other, PASSWORD) and not other.text_input  # another session gets in


def test_the_page_makes_a_new_session_wait_after_many_wrong_passwords_overall(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_page(monkeypatch, migrated_sqlite_url, password=PASSWORD)  # the server's settings
    failed = 0
    while failed < OVERALL_FAILURES:  # new sessions, each within its free failures
        at = new_session()
        for _ in range(min(FREE_FAILURES, OVERALL_FAILURES - failed)):
            assert any("Wrong password" in e for e in attempt(at, "guess"))
            failed += 1
    newcomer = new_session()
    (error,) = attempt(newcomer, PASSWORD)
    assert error.startswith("Too many wrong passwords. Try again in ")
    wait = int(error.split(" in ")[1].split()[0])
    assert 0 < wait <= OVERALL_WINDOW_S
    assert newcomer.text_input


@pytest.mark.parametrize("blank", [" ", "   ", "\t", " \n "])
def test_a_blank_password_stops_the_dashboard_at_start(
    blank: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spaces were stripped to "" and the page let everyone in; now the command refuses to start,
    in one line that names the variable and both ways out."""
    monkeypatch.setenv("DASHBOARD_PASSWORD", blank)
    with pytest.raises(SystemExit) as stopped:
        main(["dashboard", "--port", "8599"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"classpulse: configuration error: DASHBOARD_PASSWORD={blank!r} is blank, which would "
        "leave the dashboard open; unset it for an open dashboard, or set a real password\n")
    with pytest.raises(SettingsError, match="DASHBOARD_PASSWORD"):
        Settings(dashboard_password=blank)


def test_the_password_is_taken_as_written() -> None:
    def loaded(environ: dict[str, str]) -> str | None:
        return Settings.load(environ=environ).dashboard_password

    assert loaded({"DASHBOARD_PASSWORD": " s3cret "}) == " s3cret "
    assert loaded({"DASHBOARD_PASSWORD": ""}) is None and loaded({}) is None  # unset: open


def test_a_password_with_spaces_around_it_must_be_typed_with_them(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, migrated_sqlite_url, password=f" {PASSWORD} ").run()
    assert any("Wrong password" in e for e in attempt(at, PASSWORD))
    assert not attempt(at, f" {PASSWORD} ") and not at.text_input  # in
