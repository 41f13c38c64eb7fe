"""The Users service's state: who is logged in, carried in dev_appserver's login cookie (B2).

Cookie `dev_appserver_login` = `email:True|False:user_id`; user_id is App Engine's derivation from
the lower-cased email. No HTTP here: the runtime reads the cookie value and asks `user_from_cookie`.

Imports: the standard library only.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Optional

COOKIE_NAME = "dev_appserver_login"
DEFAULT_AUTH_DOMAIN = "gmail.com"
DEFAULT_LOGIN_EMAIL = "test@example.com"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class User:
    email: str
    is_admin: bool
    user_id: str

    @property
    def nickname(self) -> str:
        return self.email.split("@", 1)[0]

    @property
    def organization(self) -> str:
        return self.email.split("@", 1)[1] if "@" in self.email else ""


def user_id_for(email: str) -> str:
    """App Engine's dev user id: '1' + the first 20 digits of md5(email.lower()) as two-digit bytes."""
    digest = hashlib.md5(email.lower().encode("utf-8")).digest()
    return "1" + "".join("%02d" % b for b in digest)[:20]


def cookie_value(email: str, is_admin: bool) -> str:
    return f"{email}:{is_admin}:{user_id_for(email)}"


def user_from_cookie(value: Optional[str]) -> Optional[User]:
    """The user a cookie value names, or None when logged out or malformed."""
    if not value:
        return None
    parts = value.split(":")
    if len(parts) != 3:
        return None
    email, admin, user_id = parts
    if "@" not in email:
        log.warning("Ignoring login cookie whose email has no '@': %r", email)
        return None
    return User(email=email, is_admin=admin.lower() == "true", user_id=user_id or user_id_for(email))
