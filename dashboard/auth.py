"""Who may see the dashboard: the school's single sign-on, a shared password, or anyone.

- Single sign-on: when ``.streamlit/secrets.toml`` holds an ``[auth]`` section, Streamlit's built-in
  OIDC login (``st.login``) guards the page (README: "Single sign-on").
- Password: when ``DASHBOARD_PASSWORD`` is set, a login form asks for it once per browser session.
- Neither: the page is open, as for ``classpulse demo`` on one's own machine.

The password is compared in constant time and never logged or kept beyond the session flag.
"""

from __future__ import annotations

import hmac
import logging

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

log = logging.getLogger(__name__)

SESSION_FLAG = "classpulse_authenticated"


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
            st.caption(f"Signed in as {st.user.get('name') or st.user.get('email') or 'you'}")
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
    if submitted:
        if password_matches(given, expected):
            st.session_state[SESSION_FLAG] = True
            log.info("dashboard login ok")
            st.rerun()
        log.warning("dashboard login refused")
        st.error("Wrong password. Ask whoever runs ClassPulse for the dashboard password.")
    return False


def allowed(password: str | None) -> bool:
    """Show the login the configuration asks for; True once the visitor may see the page."""
    if oidc_configured():
        return _sso_gate()
    if password:
        return _password_gate(password)
    return True
