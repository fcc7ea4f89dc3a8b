"""Who may use the admin API and page: the holder of ``app.admin_key``, and nobody else.

* The API takes the key in an ``X-Admin-Key`` header: missing is ``401``, wrong is ``403``. The action
  key (``app.api_key``) is never accepted here, in any header.
* The page cannot send headers, so its login form exchanges the key for a session cookie
  (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS, path ``/xcore/admin``). The cookie is
  not the key: it is ``<expiry>.<HMAC(admin_key, expiry)>``, so every worker and host sharing the key
  accepts it without shared storage, it expires (:data:`SESSION_SECONDS`), and changing the key (a
  restart) ends every session. Each POST button carries a CSRF token, ``HMAC(admin_key, session)``,
  checked in constant time (``SameSite=Strict`` already keeps the cookie off cross-site requests;
  the token is the second lock).

Every comparison is constant-time and happens before the request body is read or any work starts,
so an anonymous client costs one HMAC per request at most.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import HTTPException, Request

from xcore._api_keys import matches

HEADER = "x-admin-key"
COOKIE = "xcore_admin"
SESSION_SECONDS = 8 * 3600


class AdminAuth:
    """Checks the admin key, and issues and checks the page's session cookies and CSRF tokens."""

    def __init__(self, admin_key: str) -> None:
        self._expected = [admin_key.encode()]
        self._mac_key = hashlib.sha256(b"xcore-admin-session:" + admin_key.encode()).digest()

    def key_matches(self, given: str) -> bool:
        return matches(given, self._expected)

    def require_key(self, request: Request) -> None:
        """The API's check: ``X-Admin-Key`` present (else 401) and right (else 403)."""
        given = request.headers.get(HEADER)
        if given is None:
            raise HTTPException(
                401,
                "the admin API needs the X-Admin-Key header (app.admin_key)",
                headers={"WWW-Authenticate": "X-Admin-Key"},
            )
        if not self.key_matches(given):
            raise HTTPException(403, "wrong admin key (X-Admin-Key)")

    def new_session(self, now: float | None = None) -> str:
        expiry = int((time.time() if now is None else now) + SESSION_SECONDS)
        return f"{expiry}.{self._sign(f'session:{expiry}')}"

    def session_valid(self, token: str | None, now: float | None = None) -> bool:
        if not token or token.count(".") != 1:
            return False
        expiry, signature = token.split(".")
        expected = self._sign(f"session:{expiry}")
        valid = hmac.compare_digest(signature.encode(), expected.encode())
        return valid and expiry.isdigit() and int(expiry) > (time.time() if now is None else now)

    def csrf_token(self, session: str) -> str:
        return self._sign(f"csrf:{session}")

    def csrf_valid(self, session: str, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf_token(session).encode())

    def _sign(self, text: str) -> str:
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()


__all__ = ["COOKIE", "HEADER", "SESSION_SECONDS", "AdminAuth"]
