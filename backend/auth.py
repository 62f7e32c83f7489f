"""Who may call the backend: HTTP basic auth, and where the backend may listen without it.

The backend holds a Label Studio token that reads and writes every project, so it never serves a
network address without credentials unless its operator says so (RELABEL_ALLOW_UNAUTHENTICATED=1).
"""
from __future__ import annotations

import hmac
import ipaddress

from relabel.backend.config import Settings


def credentials_match(username: str | None, password: str | None, settings: Settings) -> bool:
    """True when the request's basic-auth credentials are the configured ones.

    Compared as UTF-8 bytes in constant time, the user name and the password both always, so neither
    the time taken nor a non-ASCII character tells an attacker anything (or fails the request).
    """
    user_matches = hmac.compare_digest((username or "").encode("utf-8", "surrogatepass"),
                                       settings.basic_auth_user.encode("utf-8", "surrogatepass"))
    password_matches = hmac.compare_digest((password or "").encode("utf-8", "surrogatepass"),
                                           settings.basic_auth_pass.encode("utf-8", "surrogatepass"))
    return user_matches & password_matches


def is_loopback(host: str) -> bool:
    """True for 127.x.x.x, ::1 and localhost: only this machine reaches them."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problem(hosts: list[str], settings: Settings) -> str | None:
    """Why the backend must not listen on `hosts` with these settings, or None when it may."""
    if settings.basic_auth_user or settings.allow_unauthenticated:
        return None
    exposed = [host or "every interface" for host in hosts if not is_loopback(host)]
    if not exposed:
        return None
    return (f"refusing to serve {', '.join(exposed)} without authentication: anyone who reaches it could read every "
            f"project's labels through the backend's Label Studio token. Set BASIC_AUTH_USER and BASIC_AUTH_PASS "
            f"(and give them to Label Studio when you add the ML backend), listen on 127.0.0.1, or set "
            f"RELABEL_ALLOW_UNAUTHENTICATED=1 to serve without authentication on purpose")
