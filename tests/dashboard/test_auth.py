"""Who gets in: guessing the dashboard password is slowed down, per browser session and for all
of them; single sign-on lets in only the addresses and domains its allowlist names."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.runtime.secrets import Secrets
from streamlit.testing.v1 import AppTest

from classpulse.cli import main
from classpulse.settings import Settings, SettingsError
from dashboard.auth import (
    CLOSED,
    FIRST_WAIT_S,
    FREE_FAILURES,
    LONGEST_WAIT_S,
    OVERALL_FAILURES,
    OVERALL_WINDOW_S,
    Allowlist,
    AllowlistError,
    LoginThrottle,
    SessionFailures,
    allowed,
    log_closed,
)
from tests.dashboard.pages import APP, assert_no_error, open_page, texts

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


# the [auth] section of Streamlit's secrets as deploy/secrets.example.toml has it, filled in
AUTH = {
    "redirect_uri": "https://classpulse.school.example/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-some-length",
    "client_id": "test-client",
    "client_secret": "test-client-secret",
    "server_metadata_url": "https://login.example/.well-known/openid-configuration",
}
SCHOOL = {"allowed_email_domains": ["School.Example"], "allowed_emails": ["Visitor@Gmail.com"]}


@pytest.mark.parametrize(("email", "verified", "refusal"), [
    ("teacher@school.example", True, None),
    ("Teacher@SCHOOL.example", True, None),  # case does not matter
    ("visitor@gmail.com", True, None),  # listed by itself
    ("VISITOR@gmail.COM", "true", None),
    ("anyone@gmail.com", True, "not_allowed"),  # an "External" Google app signs anyone in
    ("pupil@students.school.example", True, "not_allowed"),  # a domain is not its subdomains
    ("teacher@school.example.evil.org", True, "not_allowed"),
    ("school.example@evil.org", True, "not_allowed"),
    ("teacher@school.example", False, "unverified"),  # listed, but the provider did not check it
    ("visitor@gmail.com", "false", "unverified"),
    ("teacher@school.example", None, "unverified"),  # nothing vouches for it: refused too
    ("teacher@school.example", "yes", "unverified"),
    (None, True, "no_email"),
    ("teacher", None, "no_email"),
])
def test_the_allowlist_admits_its_domains_and_addresses_only(
    email: str | None, verified: object, refusal: str | None
) -> None:
    assert Allowlist.from_auth({**AUTH, **SCHOOL}).refusal(email, verified) == refusal


def test_an_address_no_claim_vouches_for_is_refused() -> None:
    """Entra ID sends no ``email_verified``, and a user of another tenant may set their email to
    a school's address ("nOAuth"): a missing claim was taken for a verified address."""
    assert Allowlist(domains=frozenset({"school.example"})).refusal(
        "x@school.example", None) == "unverified"


@pytest.mark.parametrize(("verified", "domain_owner_verified", "refusal"), [
    (None, True, None),  # Entra's optional claim: the tenant owns the address's domain
    (None, "true", None),
    (None, False, "unverified"),  # e.g. an address set in another tenant
    (False, True, "unverified"),  # email_verified decides where it is sent
])
def test_entras_domain_owner_claim_vouches_where_email_verified_is_absent(
    verified: object, domain_owner_verified: object, refusal: str | None
) -> None:
    allowlist = Allowlist.from_auth({**AUTH, **SCHOOL})
    assert allowlist.refusal("teacher@school.example", verified, domain_owner_verified) == refusal


def test_the_allowlist_may_be_one_comma_separated_text() -> None:
    allowlist = Allowlist.from_auth({**AUTH,
                                     "allowed_email_domains": " school.example, Other.Example ,"})
    assert allowlist == Allowlist(frozenset({"school.example", "other.example"}), frozenset())


@pytest.mark.parametrize(("allow", "message"), [
    ({}, "single sign-on is on but [auth] names nobody who may sign in; set "
         'allowed_email_domains = ["school.example"] and/or allowed_emails = '
         '["someone@example.org"] in the dashboard\'s .streamlit/secrets.toml, then restart the '
         "dashboard"),
    ({"allowed_email_domains": [], "allowed_emails": " , "}, "names nobody who may sign in"),
    ({"allowed_email_domains": ["@school.example"]},
     "allowed_email_domains entry 1 ('@school.example') in [auth] is not a domain; write what "
     'follows the "@" of the addresses, e.g. "school.example" (no wildcards: list each '
     "subdomain)"),
    ({"allowed_email_domains": ["ok.example", "*.school.example"]},
     "entry 2 ('*.school.example') in [auth] is not a"),
    ({"allowed_email_domains": [".school.example"]}, "entry 1 ('.school.example') in [auth] is"),
    ({"allowed_email_domains": ["ada@school.example"]},  # an address, though under domains
     "allowed_email_domains entry 1 in [auth] is not a domain"),
    ({"allowed_emails": ["head"]}, "allowed_emails entry 1 in [auth] is not an email "
                                   'address; write it whole, e.g. "head@school.example"'),
    ({"allowed_emails": "ada@school.example, , grace hopper@navy.example"},
     "allowed_emails entry 3 in [auth] is not an email address"),  # blanks count as written
    ({"allowed_emails": ["ada@school.example", 5]},
     "allowed_emails entry 2 in [auth] is a number, not text"),
    ({"allowed_email_domains": 5}, "allowed_email_domains in [auth] is a number, not a list of "
                                   'text; write e.g. allowed_email_domains = ["school.example"]'),
    ({"allowed_emails": {"ada": "ada@school.example"}},
     "allowed_emails in [auth] is a table, not a list of text"),
])
def test_an_allowlist_that_admits_nobody_or_is_mistyped_is_refused_in_one_line(
    allow: dict[str, Any], message: str
) -> None:
    with pytest.raises(AllowlistError) as refused:
        Allowlist.from_auth({**AUTH, **allow})
    assert message in str(refused.value) and "\n" not in str(refused.value)
    # the message goes to the log: it quotes no address it was given (staff's, personal data)
    for address in re.findall(r"[\w.]+@[\w.]+", repr(allow)):
        assert address not in str(refused.value)


def sso_page(monkeypatch: pytest.MonkeyPatch, url: str, user: dict[str, Any],
             **allow: Any) -> AppTest:
    """The page with the school's single sign-on in its secrets, seen by ``user`` (st.user)."""
    at = open_page(monkeypatch, url)
    log_closed.clear()  # each test starts as a fresh server: nothing logged yet
    at.secrets["auth"] = {**AUTH, **allow}
    at.user = user
    return at.run()


def test_single_sign_on_without_an_allowlist_lets_nobody_in(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An identity provider signs in whoever it knows; until the operator says who of those may
    see the page, nobody may, not even someone already signed in."""
    at = sso_page(monkeypatch, migrated_sqlite_url,
                  {"is_logged_in": True, "email": "teacher@school.example"})
    assert texts(at)["error"] == [CLOSED]
    assert not at.button and not at.sidebar.children and not texts(at)["subheader"]
    assert any(r.levelno == logging.ERROR and "allowed_email_domains" in r.getMessage()
               for r in caplog.records)


def test_a_guessable_cookie_secret_closes_the_page_even_to_a_signed_in_allowed_address(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With deploy/secrets.example.toml's empty cookie_secret Streamlit signed its login cookie
    with "", so anyone could forge one saying they signed in as an allowed address (a review
    did, and saw the whole dashboard). The page now lets nobody in and logs what to set, never
    the secret."""
    caplog.set_level(logging.ERROR, logger="dashboard.auth")
    for secret in ("", "too-short-a-secret"):
        at = sso_page(monkeypatch, migrated_sqlite_url,
                      {"is_logged_in": True, "email": "head@school.example",
                       "email_verified": True}, cookie_secret=secret, **SCHOOL)
        assert texts(at)["error"] == [CLOSED]
        assert not at.sidebar.children and not texts(at)["subheader"]
    logged = [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"]
    assert [m.split(":")[1] for m in logged] == [" cookie_secret in [auth] is empty",
                                                 " cookie_secret in [auth] is 18 characters long"]
    assert "too-short-a-secret" not in caplog.text
    at = sso_page(monkeypatch, migrated_sqlite_url,
                  {"is_logged_in": True, "email": "head@school.example", "email_verified": True},
                  **SCHOOL)  # AUTH's secret, 35 characters: in
    assert not texts(at)["error"] and at.sidebar.children


def test_a_mistyped_address_closes_the_page_without_showing_or_logging_any_address(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A visitor need not have signed in to see why the page is closed, so the page says only
    that it is; the operator's log names the entry by its position, once per server process."""
    caplog.set_level(logging.ERROR, logger="dashboard.auth")
    staff = "ada.lovelace@school.example"
    at = sso_page(monkeypatch, migrated_sqlite_url, {"is_logged_in": False},
                  allowed_emails=[staff, "grace hopper@school.example"])
    assert texts(at)["error"] == [CLOSED] and not at.button
    at.run()
    other = AppTest.from_file(str(APP), default_timeout=60)  # another visitor, same process
    other.secrets["auth"] = at.secrets["auth"]
    other.user = {"is_logged_in": False}
    assert texts(other.run())["error"] == [CLOSED]
    shown = " ".join(v for values in texts(at).values() for v in values)
    for part in ("lovelace", "grace", "hopper"):
        assert part not in shown and part not in caplog.text
    logged = [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"]
    assert logged == [
        "dashboard closed: allowed_emails entry 2 in [auth] is not an email address; write it "
        'whole, e.g. "head@school.example"']  # once, for both reruns and the other session


def test_a_secrets_file_streamlit_cannot_parse_closes_the_page(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    tmp_path: Path
) -> None:
    """Streamlit raises "secret not found" for a secrets file it cannot parse too, which read as
    "no single sign-on": with no DASHBOARD_PASSWORD the page was served to anyone. A mistyped
    file lets nobody in, and the log says where the mistake is."""
    caplog.set_level(logging.ERROR, logger="dashboard.auth")
    monkeypatch.chdir(tmp_path)  # ./.streamlit/secrets.toml is one of the files Streamlit reads
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('[auth]\nallowed_email_domains = school.example\n', encoding="utf-8")
    monkeypatch.setattr(st, "secrets", Secrets())  # nothing read by an earlier test
    at = open_page(monkeypatch, migrated_sqlite_url)
    log_closed.clear()
    at.run()
    assert texts(at)["error"] == [CLOSED] and not at.button and not texts(at)["subheader"]
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"]
    assert logged.startswith(f"dashboard closed: the secrets file {secrets}, line 2, column 25 "
                             "is not valid TOML: Invalid value; fix it there"), logged
    secrets.unlink()  # no secrets file at all: no single sign-on, an open page (no password)
    monkeypatch.setattr(st, "secrets", Secrets())
    assert_no_error(at.run())


def _allowed_bare(monkeypatch: pytest.MonkeyPatch, secrets: Path) -> bool:
    """:func:`allowed` without a password, outside a page run (fast), with ``secrets`` the one
    secrets file Streamlit reads, read afresh."""
    from streamlit.testing.v1.util import patch_config_options

    monkeypatch.setattr(st, "secrets", Secrets())
    log_closed.clear()
    with patch_config_options({"secrets.files": [str(secrets)]}):
        return allowed(None)


@pytest.mark.parametrize("denied", [IsADirectoryError, PermissionError])
def test_a_secrets_file_that_cannot_be_opened_closes_the_page(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path,
    denied: type[OSError]
) -> None:
    """A folder in its place, or a file the dashboard's user may not read: Streamlit raised the
    OSError out of allowed(), and visitors saw a traceback instead of the closed notice."""
    import streamlit.runtime.secrets

    caplog.set_level(logging.ERROR, logger="dashboard.auth")
    secrets = tmp_path / "secrets.toml"
    if denied is IsADirectoryError:
        secrets.mkdir()
        strerror = "Is a directory"
    else:  # the tests may run as root, whom no file mode stops
        secrets.write_text('[auth]\nallowed_emails = ["a@school.example"]\n', encoding="utf-8")
        strerror = "Permission denied"

        def refuse(*args: object, **kwargs: object) -> bytes:
            raise PermissionError(13, strerror, str(secrets))

        monkeypatch.setattr(streamlit.runtime.secrets, "open", refuse, raising=False)
        monkeypatch.setattr(Path, "read_bytes", refuse)
    assert _allowed_bare(monkeypatch, secrets) is False
    assert [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"] == [
        f"dashboard closed: cannot read the secrets file {secrets} ({strerror}); make it "
        "readable or remove it"]


@pytest.mark.parametrize(("body", "found"), [
    ('[Auth]\nclient_id = "x"\nclient_secret = "s3cret"\n', "section [Auth]"),
    ('client_id = "x"\nclient_secret = "s3cret"\ncookie_secret = "s3cret"\n'
     'server_metadata_url = "https://idp.example/.well-known/openid-configuration"\n',
     "key client_id outside any section; key client_secret outside any section; key "
     "cookie_secret outside any section; key server_metadata_url outside any section"),
    ('[autth]\nredirect_uri = "https://school.example/oauth2callback"\n', "section [autth]"),
    ('[AUTH.google]\nclient_secret = "s3cret"\n', "section [AUTH]"),
])
def test_sign_in_settings_outside_an_auth_section_close_the_page_and_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path,
    body: str, found: str
) -> None:
    """A misspelt [Auth], or the settings written without their [auth] line, turned no sign-in
    on: with no DASHBOARD_PASSWORD the page was open to anyone. The log names the file and what
    it holds, never a value; `classpulse dashboard` refuses it at start in one line."""
    from dashboard.auth import mistyped_sign_in

    caplog.set_level(logging.ERROR, logger="dashboard.auth")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(body, encoding="utf-8")
    assert _allowed_bare(monkeypatch, secrets) is False
    why = (f"the secrets file {secrets} has no [auth] section but holds sign-in settings "
           f"({found}): Streamlit's single sign-on reads [auth] only, so the page would be open "
           "to anyone; put them under an [auth] line (lower case; a provider's under "
           "[auth.NAME]), or remove them")
    assert [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"] == [
        f"dashboard closed: {why}"]
    assert "s3cret" not in caplog.text
    assert mistyped_sign_in([str(tmp_path / "absent.toml"), str(secrets)]) == why
    other = tmp_path / "other.toml"  # another file Streamlit reads holds [auth]: it is on
    other.write_text('[auth]\nallowed_emails = ["a@school.example"]\n', encoding="utf-8")
    assert mistyped_sign_in([str(secrets), str(other)]) is None


def test_auth_that_is_no_section_closes_the_page(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """``auth = "..."`` above any section raised AttributeError out of the page."""
    from dashboard.auth import mistyped_sign_in

    caplog.set_level(logging.ERROR, logger="dashboard.auth")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('auth = "s3cret"\n', encoding="utf-8")
    assert _allowed_bare(monkeypatch, secrets) is False
    assert "dashboard closed: auth in the secrets is a value of type str, not a section" in (
        caplog.text) and "s3cret" not in caplog.text
    assert mistyped_sign_in([str(secrets)]) == (
        f"the secrets file {secrets} holds auth = a value of type str, not a section; write the "
        "sign-in settings under an [auth] line")


@pytest.mark.parametrize("body", [
    "", 'title = "ClassPulse"\n[database]\npassword = "x"\n',
    '[connections.warehouse]\nclient_id = "x"\nclient_secret = "y"\n'])
def test_a_secrets_file_of_other_settings_leaves_the_page_open(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str
) -> None:
    from dashboard.auth import mistyped_sign_in

    secrets = tmp_path / "secrets.toml"
    secrets.write_text(body, encoding="utf-8")
    assert _allowed_bare(monkeypatch, secrets) is True
    assert mistyped_sign_in([str(secrets)]) is None


def test_the_secrets_files_of_the_single_sign_on_are_git_ignored() -> None:
    """README has the client secret written into .streamlit/secrets.toml where the dashboard is
    started (the checkout, often): `git add .` committed it."""
    root = APP.parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for path in (".streamlit/secrets.toml", "dashboard/.streamlit/secrets.toml",
                 "deploy/secrets.toml"):
        ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", path], check=False)
        assert ignored.returncode == 0, path


def test_a_signed_in_account_off_the_list_is_refused_by_name_in_plain_text(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    email = "*mark*_down_[x](https://evil.example)@gmail.com"  # Markdown would mangle it
    caplog.set_level(logging.WARNING, logger="dashboard.auth")
    at = sso_page(monkeypatch, migrated_sqlite_url, {"is_logged_in": True, "email": email,
                                                     "email_verified": True}, **SCHOOL)
    assert [t.value for t in at.text] == [
        f"{email} may not see this dashboard. Log out and sign in with a school account that may, "
        "or ask whoever runs ClassPulse to allow this one."]
    assert not texts(at)["markdown"] and not texts(at)["subheader"] and not at.sidebar.children
    refused = [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"]
    assert refused == ["dashboard sign-in refused reason=not_allowed domain='gmail.com'"]
    assert "mark" not in caplog.text  # the address is personal data: only its domain is logged
    (log_out,) = at.button
    assert log_out.label == "Log out"
    log_out.click().run()
    assert [b.label for b in at.button] == ["Log in"] and not at.text


def test_a_listed_account_no_claim_vouches_for_is_refused(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed in by a provider that says nothing of the address (an Entra app without the
    ``xms_edov`` claim): the visitor is refused as unverified; the log names the claims that
    came, none, so the operator knows what to set up."""
    caplog.set_level(logging.WARNING, logger="dashboard.auth")
    at = sso_page(monkeypatch, migrated_sqlite_url,
                  {"is_logged_in": True, "email": "ada@school.example", "name": "Ada"}, **SCHOOL)
    assert [t.value for t in at.text] == [
        "ada@school.example is not verified by the identity provider, so ClassPulse cannot tell "
        "that it is yours. Verify it there, or log out and sign in with a school account."]
    assert not at.sidebar.children and [b.label for b in at.button] == ["Log out"]
    refused = [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"]
    assert refused == [
        "dashboard sign-in refused reason=unverified domain='school.example' claims_sent=none"]


@pytest.mark.parametrize("vouching", [{"email_verified": True}, {"xms_edov": True}])
def test_a_listed_account_sees_the_dashboard(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, vouching: dict[str, bool]
) -> None:
    at = sso_page(monkeypatch, migrated_sqlite_url,
                  {"is_logged_in": True, "email": "Ada@School.Example", "name": "Ada",
                   **vouching}, **SCHOOL)
    assert_no_error(at)
    assert not at.text and texts(at)["markdown"]  # past the gate: the page's own explanation
    assert [c.value for c in at.sidebar.caption][:1] == ["Signed in as Ada"]
    assert [b.label for b in at.sidebar.button] == ["Log out"]
