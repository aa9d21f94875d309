"""The staff login of the wallet and admin pages: one password (Streamlit secrets `admin_password`
or CREDITBOOK_ADMIN_PASSWORD), compared in constant time, with failed attempts throttled per
session and across all sessions by a delay that doubles with each failure.

Without a configured password both pages are read-only (the demo); with one, they show nothing
until the session has logged in. A delay refuses attempts instead of sleeping, so a guessing
client cannot tie up the server's threads either."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st


@dataclass
class Throttle:
    """Failures within `window` seconds; after `free` of them each attempt waits `base` × 2^(n−free−1)
    seconds (at most `cap`) after the last failure. A success clears it."""

    free: int
    base: float = 1.0
    cap: float = 300.0
    window: float = 900.0
    clock: Callable[[], float] = time.monotonic
    failures: deque[float] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, now: float) -> int:
        while self.failures and now - self.failures[0] > self.window:
            self.failures.popleft()
        return len(self.failures)

    def wait(self) -> float:
        """Seconds before the next attempt is allowed (0: now)."""
        with self.lock:
            now = self.clock()
            over = self._recent(now) - self.free
            if over <= 0:
                return 0.0
            delay = min(self.cap, self.base * 2 ** (over - 1))
            return max(0.0, self.failures[-1] + delay - now)

    def failed(self) -> None:
        with self.lock:
            self.failures.append(self.clock())

    def succeeded(self) -> None:
        with self.lock:
            self.failures.clear()


@st.cache_resource(show_spinner=False)
def global_throttle() -> Throttle:
    """All sessions together: a few guesses from many sessions still slow down."""
    return Throttle(free=10, base=5.0)


def session_throttle() -> Throttle:
    found = st.session_state.get("login_throttle")
    if not isinstance(found, Throttle):
        found = st.session_state["login_throttle"] = Throttle(free=2, base=5.0)
    return found


def admin_password() -> str | None:
    """The password from Streamlit secrets or CREDITBOOK_ADMIN_PASSWORD; None: read-only pages."""
    try:
        configured = st.secrets.get("admin_password")
    except Exception:  # no secrets file at all: Streamlit raises its own error types
        configured = None
    return configured or os.environ.get("CREDITBOOK_ADMIN_PASSWORD") or None


def same_password(typed: str, password: str) -> bool:
    """Constant time whatever the lengths: the digests are compared, not the texts."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(typed.encode("utf-8", "replace")).digest(), digest(password.encode()).digest())


def is_staff() -> bool:
    return bool(st.session_state.get("admin_ok"))


def login() -> bool | None:
    """The login form when a password is configured and the session has not logged in.
    True: logged in; False: not (yet); None: no password configured (read-only pages)."""
    password = admin_password()
    if password is None:
        return None
    if is_staff():
        return True
    st.info("Staff only: log in with the admin password.")
    with st.form("login", clear_on_submit=True):
        typed = st.text_input("Admin password", type="password", key="admin_password")
        submitted = st.form_submit_button("Log in", key="login_submit")
    if not submitted or not typed:
        return False
    throttles = (session_throttle(), global_throttle())
    wait = max(t.wait() for t in throttles)
    if wait > 0:
        st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
        return False
    if same_password(typed, password):
        for throttle in throttles:
            throttle.succeeded()
        st.session_state["admin_ok"] = True
        st.rerun()
    for throttle in throttles:
        throttle.failed()
    wait = max(t.wait() for t in throttles)
    st.error("Wrong password." if wait <= 0 else f"Wrong password. Too many wrong passwords: wait {math.ceil(wait)} s.")
    return False


def staff_page(title: str) -> bool | None:
    """A staff page's heading and login. True: the page may change things; None: read-only (no
    password configured, said on the page); False: not logged in, show nothing more."""
    st.title(title)
    allowed = login()
    if allowed is None:
        st.info("Read-only: no admin password is configured (Streamlit secrets or CREDITBOOK_ADMIN_PASSWORD).")
    return allowed


def logout_button() -> None:
    if is_staff() and st.sidebar.button("Log out", key="logout"):
        st.session_state.pop("admin_ok", None)
        st.rerun()
