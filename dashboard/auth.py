"""Who may see the dashboard: the school's single sign-on, a shared password, or anyone.

- Single sign-on: when ``.streamlit/secrets.toml`` holds an ``[auth]`` section, Streamlit's built-in
  OIDC login (``st.login``) guards the page (README: "Single sign-on").
- Password: when ``DASHBOARD_PASSWORD`` is set, a login form asks for it once per browser session.
- Neither: the page is open, as for ``classpulse demo`` on one's own machine.

The password is compared in constant time and never logged or kept beyond the session flag.
Guessing is slowed down twice over (:class:`LoginThrottle`): a browser session's wrong passwords
after the first few make it wait longer each time, and too many wrong passwords from all sessions
together make every session wait, since a new browser session costs an attacker nothing. The
process-wide count lives in ``st.cache_resource`` (one object per server process, shared by all
sessions, guarded by a lock); a session's own count lives in its ``st.session_state``.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from dashboard.text import plain

log = logging.getLogger(__name__)

SESSION_FLAG = "classpulse_authenticated"
SESSION_FAILURES = "classpulse_login_failures"

FREE_FAILURES = 3  # a session's wrong passwords before it has to wait
FIRST_WAIT_S = 2.0  # then 2, 4, 8, ... seconds after each further one
LONGEST_WAIT_S = 300.0
OVERALL_FAILURES = 10  # wrong passwords from all sessions together within OVERALL_WINDOW_S
OVERALL_WINDOW_S = 60.0


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


def oidc_configured() -> bool:
    """True when Streamlit's secrets hold an ``[auth]`` section (OIDC provider settings)."""
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError:
        return False


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times do not leak the password."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _sso_gate() -> bool:
    if st.user.is_logged_in:
        with st.sidebar:
            who = st.user.get("name") or st.user.get("email") or "you"
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
    if oidc_configured():
        return _sso_gate()
    if password:
        return _password_gate(password)
    return True
