"""Who may see the dashboard: the school's single sign-on, a shared password, or anyone.

- Single sign-on: when ``.streamlit/secrets.toml`` holds an ``[auth]`` section, Streamlit's built-in
  OIDC login (``st.login``) guards the page (README: "Single sign-on"), and the same section's
  allowlist (:class:`Allowlist`) decides who of those the identity provider signed in may see it.
- Password: when ``DASHBOARD_PASSWORD`` is set, a login form asks for it once per browser session.
- Neither: the page is open, as for ``classpulse demo`` on one's own machine.

The password is compared in constant time and never logged or kept beyond the session flag.
Guessing is slowed down twice over (:class:`LoginThrottle`): a browser session's wrong passwords
after the first few make it wait longer each time, and too many wrong passwords from all sessions
together make every session wait, since a new browser session costs an attacker nothing. The
process-wide count lives in ``st.cache_resource`` (one object per server process, shared by all
sessions, guarded by a lock); a session's own count lives in its ``st.session_state``.

A single sign-on allowlist that admits nobody, or is mistyped, closes the page to everyone, and so
do sign-in settings outside an ``[auth]`` section (:class:`SignInMistyped`). The page says only
that (a visitor need not be signed in to see it, and the allowlist holds staff addresses); the log
says which key and which entry to fix, by its position, never quoting an address, and says it once
per server process (:func:`log_closed`), not on every rerun of every visitor.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from classpulse.safe_text import safe_text
from dashboard.text import plain

log = logging.getLogger(__name__)

SESSION_FLAG = "classpulse_authenticated"
SESSION_FAILURES = "classpulse_login_failures"

FREE_FAILURES = 3  # a session's wrong passwords before it has to wait
FIRST_WAIT_S = 2.0  # then 2, 4, 8, ... seconds after each further one
LONGEST_WAIT_S = 300.0
OVERALL_FAILURES = 10  # wrong passwords from all sessions together within OVERALL_WINDOW_S
OVERALL_WINDOW_S = 60.0

# who may see the dashboard after signing in, in the ``[auth]`` section of Streamlit's secrets,
# next to the identity provider they qualify (README.md, "The school's single sign-on")
ALLOWED_DOMAINS_KEY = "allowed_email_domains"
ALLOWED_EMAILS_KEY = "allowed_emails"
# the ID token's claims that vouch for the signed-in address (Allowlist.refusal): the standard
# one, and Microsoft Entra ID's "email domain owner verified", an optional claim it sends instead
EMAIL_VERIFIED = "email_verified"
DOMAIN_OWNER_VERIFIED = "xms_edov"
# the settings of Streamlit's [auth] section and of the allowlist in it: written outside it (no
# [auth] line above them, or a misspelt one), they turn no sign-in on (SignInMistyped)
_SIGN_IN_KEYS = frozenset({"client_id", "client_secret", "server_metadata_url", "redirect_uri",
                           "cookie_secret", ALLOWED_DOMAINS_KEY, ALLOWED_EMAILS_KEY})
# Streamlit signs its login cookie with [auth]'s cookie_secret and checks only that the key is
# there: with "" (deploy/secrets.example.toml as shipped) or a short word anyone can forge a cookie
# saying they signed in as an allowed address, and the allowlist checks the forged claims. 32
# characters is what secrets.token_urlsafe(24) gives, the README's command gives 43.
MIN_COOKIE_SECRET_CHARS = 32
# ... and a text of few characters repeated ("changeme" x 4, "a" x 32) is as guessable: a random
# one has many (secrets.token_hex(16), 32 characters of 16, had fewer than 8 in none of 10^6 draws;
# the README's token_urlsafe(32) has 43 of 64)
MIN_COOKIE_SECRET_DISTINCT = 8
_NOT_A_DOMAIN = re.compile(r"[\s@*/]|^\.|\.$|\.\.")
_NOT_AN_EMAIL = re.compile(r"\s")


@dataclass
class SessionFailures:
    """One browser session's wrong passwords since its last success (kept in its session state)."""

    count: int = 0
    last: float = -math.inf  # monotonic time of the last one


@dataclass
class LoginThrottle:
    """How long a login attempt must wait, from this session's and everybody's wrong passwords.

    Times are ``time.monotonic()`` seconds, passed in so the rule can be checked at any instant.
    """

    free_failures: int = FREE_FAILURES
    first_wait_s: float = FIRST_WAIT_S
    longest_wait_s: float = LONGEST_WAIT_S
    overall_failures: int = OVERALL_FAILURES
    overall_window_s: float = OVERALL_WINDOW_S
    _recent: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_s(self, session: SessionFailures, now: float) -> float:
        """Seconds before this session may try again; 0 when it may now."""
        waits = [0.0]
        beyond = session.count - self.free_failures
        if beyond >= 0:
            delay = min(self.first_wait_s * 2 ** beyond, self.longest_wait_s)
            waits.append(session.last + delay - now)
        with self._lock:
            self._forget(now)
            if len(self._recent) >= self.overall_failures:
                waits.append(self._recent[0] + self.overall_window_s - now)
        return max(waits)

    def failed(self, session: SessionFailures, now: float) -> None:
        """Count a wrong password for this session and for everybody."""
        session.count += 1
        session.last = now
        with self._lock:
            self._forget(now)
            self._recent.append(now)

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - self.overall_window_s:
            self._recent.popleft()


@st.cache_resource(show_spinner=False)
def login_throttle() -> LoginThrottle:
    """The server process's one throttle, shared by every browser session."""
    return LoginThrottle()


class SecretsUnreadable(ValueError):
    """A secrets file Streamlit reads exists but cannot be read as TOML; the message names the
    file, the line and the column. The page then lets nobody in: the file may hold the ``[auth]``
    section, and to skip a sign-in that it may ask for would serve the page to anyone."""


class SignInMistyped(SecretsUnreadable):
    """The secrets hold sign-in settings but no ``[auth]`` section (a section ``[Auth]``, or
    ``client_id`` and the like above any section): Streamlit's single sign-on reads ``[auth]``
    only, so the page would be served to anyone. It lets nobody in; the message names the file
    and the sections and keys found, never a value."""


def secrets_files(script: str | Path | None = None) -> list[str]:
    """The secrets files Streamlit reads: in the page's server, its ``secrets.files`` option.

    Given the page's ``script`` (``classpulse dashboard``, before it starts that server): the
    option's default, ``secrets.toml`` in ``~/.streamlit/``, in ``./.streamlit/`` and next to
    the script, said without asking Streamlit's config, which would parse (and, broken, print a
    traceback of) its ``config.toml`` in this process too.
    """
    if script is None:
        from streamlit import config

        return [str(p) for p in config.get_option("secrets.files") or ()]
    paths = [str(folder / ".streamlit" / "secrets.toml")
             for folder in (Path.home(), Path.cwd(), Path(script).resolve().parent)]
    return list(dict.fromkeys(paths))


# where tomllib says its mistake is: "(at line 3, column 5)", or "(at end of document)"
_TOML_WHERE = re.compile(
    r"^(?P<what>.*?) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$")


def unreadable_secrets(paths: Iterable[str]) -> str | None:
    """Why the first of ``paths`` that exists cannot be read as a TOML secrets file, in one line
    naming it (with the line and the column of a TOML mistake); None when each is absent or
    reads. Folders (Kubernetes-style secrets) are left to Streamlit."""
    for path in paths:
        if not path.endswith(".toml"):
            continue
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return (f"cannot read the secrets file {path} ({exc.strerror or exc}); make it "
                    "readable or remove it")
        try:
            mistake = _toml_mistake(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return (f"the secrets file {path} is not UTF-8 text ({exc.reason} at byte "
                    f"{exc.start}); save it as UTF-8")
        if mistake is not None:
            where, what = mistake
            return (f"the secrets file {path}{where} is not valid TOML: {what}; fix it there "
                    '(each entry is key = "value", each section a [name] line of its own)')
    return None


def sign_in_outside_auth(secrets: Mapping[str, Any]) -> list[str]:
    """The sign-in settings ``secrets`` (a secrets file, or Streamlit's secrets) holds outside an
    ``[auth]`` section, by name: a section named like it (``[Auth]``), or holding its keys
    (``[autth]``, ``[google]`` meant as ``[auth.google]``), and its keys at the top; [] when an
    ``[auth]`` section is there. Streamlit's own ``[connections.*]`` are not looked into."""
    if "auth" in secrets:
        return []
    found = []
    for key, value in secrets.items():
        if isinstance(value, Mapping):
            if key.strip().lower() == "auth" or (
                    key != "connections" and _SIGN_IN_KEYS & {str(k).lower() for k in value}):
                found.append(f"section [{safe_text(key)}]")
        elif key.lower() in _SIGN_IN_KEYS:
            found.append(f"key {safe_text(key)} outside any section")
    return found


def mistyped_sign_in(paths: Iterable[str]) -> str | None:
    """Why the secrets files among ``paths`` (those that exist and read as TOML) hold a sign-in
    setup that turns no sign-in on (:func:`sign_in_outside_auth`), in one line naming the first
    such file and what it holds; None when any holds ``[auth]``, or none holds such settings."""
    mistyped = []
    for path in paths:
        table = _secrets_table(path)
        if table is None:
            continue
        if "auth" in table:
            if isinstance(table["auth"], Mapping):
                return None
            return (f"the secrets file {path} holds auth = {_a(table['auth'])}, not a section; "
                    "write the sign-in settings under an [auth] line")
        if found := sign_in_outside_auth(table):
            mistyped.append(mistyped_message(f"the secrets file {path}", found))
    return mistyped[0] if mistyped else None


def mistyped_message(where: str, found: list[str]) -> str:
    """The one line of :class:`SignInMistyped`; ``where`` names the secrets ("the secrets file
    PATH")."""
    return (f"{where} has no [auth] section but holds sign-in settings "
            f"({'; '.join(found)}): Streamlit's single sign-on reads [auth] only, so the page "
            "would be open to anyone; put them under an [auth] line (lower case; a provider's "
            "under [auth.NAME]), or remove them")


def _secrets_table(path: str) -> Mapping[str, Any] | None:
    """A secrets file's TOML table; None when it is no .toml file, or cannot be read as one
    (:func:`unreadable_secrets` says why)."""
    if not path.endswith(".toml"):
        return None
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return _read_toml(text)[0]


def _toml_mistake(text: str) -> tuple[str, str] | None:
    """Where (", line L, column C") and what the TOML mistake in ``text`` is; None if it reads."""
    return _read_toml(text)[1]


def _read_toml(text: str) -> tuple[Mapping[str, Any] | None, tuple[str, str] | None]:
    """(the table, None) when ``text`` reads as TOML, else (None, (where, what) of its mistake).
    Python's tomllib where there is one; on Python 3.10 the toml package, which Streamlit reads
    its secrets with there."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import toml

        try:
            return toml.loads(text), None
        except toml.TomlDecodeError as exc:
            return None, (f", line {exc.lineno}, column {exc.colno}", exc.msg)
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_WHERE.match(str(exc))
        if found is None:  # a wording of another Python
            return None, ("", str(exc))
        if found["line"] is None:
            return None, (", at its end", found["what"])
        return None, (f", line {found['line']}, column {found['column']}", found["what"])


def oidc_configured() -> bool:
    """True when Streamlit's secrets hold an ``[auth]`` section (OIDC provider settings); False
    when no secrets file exists, or none holds sign-in settings. :class:`SecretsUnreadable` when
    one exists but cannot be read (not TOML, not UTF-8, no permission, a folder in its place):
    Streamlit says "not found" then too, or raises the OSError, which must not turn the sign-in
    off. :class:`SignInMistyped` when they hold sign-in settings outside ``[auth]``."""
    try:
        if "auth" in st.secrets:
            return True
        found = sign_in_outside_auth(st.secrets)
    except (StreamlitSecretNotFoundError, UnicodeDecodeError, OSError) as exc:
        paths = secrets_files()
        problem = unreadable_secrets(paths)
        if problem is None and not any(os.path.exists(p) for p in paths):
            return False
        raise SecretsUnreadable(problem or " ".join(str(exc).split())) from None
    if found:
        raise SignInMistyped(mistyped_sign_in(secrets_files())
                             or mistyped_message("the secrets (secrets.files)", found))
    return False


class AllowlistError(ValueError):
    """The allowlist in ``[auth]`` is missing or malformed, or the cookie secret it rests on could
    be guessed; the message names the key and fix.

    It names a mistyped entry by its 1-based position and never quotes an email address (staff's
    addresses are personal data, and the message goes to the log); a domain may be quoted.
    """


# what every visitor sees while the allowlist admits nobody: they need not have signed in, so it
# tells them nothing of the allowlist (which names staff); the log tells the operator what to set
CLOSED = ("The dashboard is closed until whoever runs ClassPulse sets who may sign in; its log "
          "says what to set.")


@dataclass(frozen=True)
class Allowlist:
    """Who may see the dashboard once the identity provider has signed them in.

    Signing in proves only that the provider knows the account: an app registered as multi-tenant
    (Entra ID) or with an "External" consent screen (Google) signs in anyone with an account there,
    so the page checks the signed-in email itself. Addresses and domains are compared without
    regard to case; a domain admits its own addresses only, not its subdomains' (pupils often
    have theirs at a subdomain of the school's).
    """

    domains: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()

    @classmethod
    def from_auth(cls, auth: Mapping[str, Any]) -> Allowlist:
        """The allowlist of Streamlit's ``[auth]`` section; an error when it admits nobody, or
        when the section's ``cookie_secret`` is too short to keep a signed-in identity from
        being forged (:data:`MIN_COOKIE_SECRET_CHARS`).

        Each key takes a TOML list of text or one comma-separated text.
        """
        if not isinstance(auth, Mapping):  # auth = "..." above any section
            raise AllowlistError(f"auth in the secrets is {_a(auth)}, not a section; write the "
                                 "sign-in settings under an [auth] line")
        _check_cookie_secret(auth.get("cookie_secret"))
        domains = _entries(auth, ALLOWED_DOMAINS_KEY)
        emails = _entries(auth, ALLOWED_EMAILS_KEY)
        for position, domain in domains:
            if _NOT_A_DOMAIN.search(domain):
                # an address typed here is still an address: quote only what has no local part
                shown = "" if domain.rpartition("@")[0] else f" ({domain!r})"
                raise AllowlistError(
                    f"{ALLOWED_DOMAINS_KEY} entry {position}{shown} in [auth] is not a domain; "
                    'write what follows the "@" of the addresses, e.g. "school.example" (no '
                    "wildcards: list each subdomain)")
        for position, email in emails:
            local, at, domain = email.rpartition("@")
            if not (local and at and domain) or _NOT_AN_EMAIL.search(email):
                raise AllowlistError(f"{ALLOWED_EMAILS_KEY} entry {position} in [auth] is not an "
                                     'email address; write it whole, e.g. "head@school.example"')
        if not domains and not emails:
            raise AllowlistError(
                f"single sign-on is on but [auth] names nobody who may sign in; set "
                f'{ALLOWED_DOMAINS_KEY} = ["school.example"] and/or {ALLOWED_EMAILS_KEY} = '
                '["someone@example.org"] in the dashboard\'s .streamlit/secrets.toml, then '
                "restart the dashboard")
        return cls(frozenset(d for _, d in domains), frozenset(e for _, e in emails))

    def refusal(self, email: object, email_verified: object,
                domain_owner_verified: object = None) -> str | None:
        """Why this signed-in identity may not see the page (``no_email``, ``unverified``,
        ``not_allowed``), or None when it may.

        The address is trusted only when the provider vouches for it: ``email_verified`` true,
        or, where that claim is absent, Microsoft Entra ID's ``xms_edov``
        (``domain_owner_verified``) true, which Entra sends instead (it sends no
        ``email_verified``) when the app asks for that optional claim. An address nothing vouches
        for is refused even when listed: on some providers anyone can type any address into their
        account, and an Entra app open to other tenants signs in whoever set a school's address
        in a tenant of their own ("nOAuth").
        """
        if not isinstance(email, str) or "@" not in email:
            return "no_email"
        vouched = (_claims_true(email_verified) if email_verified is not None
                   else _claims_true(domain_owner_verified))
        if not vouched:
            return "unverified"
        address = email.strip().lower()
        if address in self.emails or email_domain(address) in self.domains:
            return None
        return "not_allowed"


def _claims_true(value: object) -> bool:
    """A claim that says yes: JSON ``true``, or the text "true" that some providers send."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _entries(auth: Mapping[str, Any], key: str) -> list[tuple[int, str]]:
    """The key's non-blank entries, in lower case, each with its 1-based position as written
    (blanks counted), so an error can point at an entry without quoting it."""
    value = auth.get(key, [])
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):  # its type only: the value may hold addresses
        raise AllowlistError(f"{key} in [auth] is {_a(value)}, not a list of text; write e.g. "
                             f'{key} = ["school.example"]')
    for position, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise AllowlistError(f"{key} entry {position} in [auth] is {_a(item)}, not text; "
                                 f'write e.g. {key} = ["school.example"]')
    return [(position, item.strip().lower())
            for position, item in enumerate(items, start=1) if item.strip()]


def _check_cookie_secret(secret: object) -> None:
    """Refuse a cookie secret anyone could guess, saying what it is without quoting it."""
    text = secret.strip() if isinstance(secret, str) else ""
    if (len(text) >= MIN_COOKIE_SECRET_CHARS and len(set(text)) >= MIN_COOKIE_SECRET_DISTINCT
            and not _written_out(text) and not _repeated(text)):
        return
    if secret is None:
        what = "missing"
    elif not isinstance(secret, str):
        what = f"{_a(secret)}, not text"
    elif not text:
        what = "empty"
    elif _written_out(text):
        what = "words or the command that makes one, not its output: anyone can read them"
    elif len(text) < MIN_COOKIE_SECRET_CHARS:
        what = f"{len(text)} characters long"
    elif len(set(text)) < MIN_COOKIE_SECRET_DISTINCT:
        what = f"made of {len(set(text))} different characters"
    else:
        what = "a few characters repeated"
    raise AllowlistError(
        f"cookie_secret in [auth] is {what}: with a guessable one anyone can forge the sign-in "
        "cookie and come in as an allowed address; set a random text of at least "
        f"{MIN_COOKIE_SECRET_CHARS} characters (python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))') in the dashboard's .streamlit/secrets.toml, then "
        "restart the dashboard")


def _written_out(text: str) -> bool:
    """Words, not a random token: a space (no generator's output has one: the README's old
    example text, "a long random string, ...", or its command pasted instead of the command's
    output) or the command's name."""
    return any(c.isspace() for c in text) or "token_urlsafe" in text


def _repeated(text: str) -> bool:
    """A few characters over and over ("abcdefgh" x 4, "password1234" x 3)."""
    return any(text == text[:n] * (len(text) // n) + text[:len(text) % n]
               for n in range(1, len(text) // 2 + 1))


def sign_in_refusal(paths: Iterable[str]) -> str | None:
    """Why the ``[auth]`` section Streamlit reads from the secrets files among ``paths`` (the last
    that holds one: Streamlit replaces a section a later file holds too, it does not merge it)
    would close the page
    (:meth:`Allowlist.from_auth`), in one line; None without such a section, or when it would
    open. ``classpulse dashboard`` says it before starting rather than only in the page's log."""
    auth: Mapping[str, Any] | None = None
    for path in paths:
        table = _secrets_table(path)
        if table is not None and isinstance(table.get("auth"), Mapping):
            auth = table["auth"]  # Streamlit takes a later file's [auth] whole, not key by key
    if auth is None:
        return None
    try:
        Allowlist.from_auth(auth)
    except AllowlistError as exc:
        return f"the single sign-on in the secrets ({', '.join(paths)}) cannot open: {exc}"
    return None


def _a(value: object) -> str:
    """A value's TOML-ish type, said without its content (e.g. "a number")."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "a table"
    return f"a value of type {type(value).__name__}"


def email_domain(email: object) -> str:
    """What follows the last "@", in lower case: all the log may keep of an address (an address
    is personal data; its domain tells the operator which provider or school it came from)."""
    if not isinstance(email, str) or "@" not in email:
        return "none"
    return email.rpartition("@")[2].strip().lower()


REFUSALS = {
    "not_allowed": "{email} may not see this dashboard. Log out and sign in with a school account "
                   "that may, or ask whoever runs ClassPulse to allow this one.",
    "unverified": "{email} is not verified by the identity provider, so ClassPulse cannot tell "
                  "that it is yours. Verify it there, or log out and sign in with a school "
                  "account.",
    "no_email": "The identity provider gave no email address for this account, so ClassPulse "
                "cannot tell whether it may see this dashboard. Log out and sign in with a school "
                "account.",
}


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times do not leak the password."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@st.cache_resource(show_spinner=False)
def log_closed(message: str) -> None:
    """Log why the page is closed, once per server process and message: every rerun of every
    visitor checks the allowlist, and the operator needs the line once, not a flood of it."""
    log.error("dashboard closed: %s", message)


def _vouching_claims_sent() -> str:
    """The names (never the values) of the claims vouching for the address that the provider
    sent, or "none": an operator whose provider sends none must set it up to (README, "The
    school's single sign-on"), which a refused "unverified" alone would not tell."""
    sent = [c for c in (EMAIL_VERIFIED, DOMAIN_OWNER_VERIFIED) if st.user.get(c) is not None]
    return ",".join(sent) or "none"


def _closed(message: str) -> bool:
    """The page closed to everyone; ``message`` (what to fix) goes to the log only."""
    log_closed(message)
    st.title("ClassPulse")
    st.error(plain(CLOSED))  # the visitor may be anyone: what to fix is for the log
    return False


def _sso_gate() -> bool:
    try:
        allowlist = Allowlist.from_auth(st.secrets["auth"])
    except AllowlistError as exc:  # nobody may come in until the operator says who may
        return _closed(str(exc))
    if st.user.is_logged_in:
        email = st.user.get("email")
        reason = allowlist.refusal(email, st.user.get(EMAIL_VERIFIED),
                                   st.user.get(DOMAIN_OWNER_VERIFIED))
        if reason is not None:
            sent = f" claims_sent={_vouching_claims_sent()}" if reason == "unverified" else ""
            log.warning("dashboard sign-in refused reason=%s domain=%r%s", reason,
                        email_domain(email), sent)
            st.title("ClassPulse")
            st.text(REFUSALS[reason].format(email=email))  # the provider's text: never Markdown
            st.button("Log out", on_click=st.logout)
            return False
        with st.sidebar:
            who = st.user.get("name") or email or "you"
            st.caption(f"Signed in as {plain(who)}")
            st.button("Log out", on_click=st.logout)
        return True
    st.title("ClassPulse")
    st.write("Sign in with your school account to see the dashboard.")
    st.button("Log in", on_click=st.login, type="primary")
    return False


def _password_gate(expected: str) -> bool:
    if st.session_state.get(SESSION_FLAG):
        return True
    st.title("ClassPulse")
    with st.form("login"):
        given = st.text_input("Dashboard password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if not submitted:
        return False
    throttle = login_throttle()
    failures = st.session_state.setdefault(SESSION_FAILURES, SessionFailures())
    now = time.monotonic()
    wait = throttle.wait_s(failures, now)
    if wait > 0:  # the password is not even compared
        log.warning("dashboard login throttled wait_s=%.0f session_failures=%d", wait,
                    failures.count)
        st.error(f"Too many wrong passwords. Try again in {math.ceil(wait)} seconds.")
        return False
    if password_matches(given, expected):
        st.session_state[SESSION_FLAG] = True
        st.session_state[SESSION_FAILURES] = SessionFailures()
        log.info("dashboard login ok")
        st.rerun()
    throttle.failed(failures, now)
    log.warning("dashboard login refused session_failures=%d", failures.count)
    st.error("Wrong password. Ask whoever runs ClassPulse for the dashboard password.")
    return False


def allowed(password: str | None) -> bool:
    """Show the login the configuration asks for; True once the visitor may see the page."""
    try:
        sso = oidc_configured()
    except SecretsUnreadable as exc:  # it may hold the sign-in: nobody comes in until it reads
        return _closed(str(exc))
    if sso:
        return _sso_gate()
    if password:
        return _password_gate(password)
    return True
