"""`users`, named as `google.appengine.api.users` names it: who is signed in for this request.

The runtime puts the login cookie's user into the request environ (USER_EMAIL, USER_ID,
USER_IS_ADMIN, AUTH_DOMAIN), as App Engine does; this module only reads it.

Imports: the standard library, `gae_emu.apiproxy`.
"""
from __future__ import annotations

import os
from typing import Any, Optional
from urllib.parse import quote

from gae_emu import apiproxy


class Error(Exception):
    """Base class for users errors."""


class UserNotFoundError(Error):
    """No email was given and no user is signed in."""


class NotAllowedError(Error):
    """The requested redirection is not allowed."""


def _environ() -> Any:
    return apiproxy.request_environ.get() or os.environ


class User:
    """A user of the app: email, auth domain and (for the signed-in user) a stable user id."""

    def __init__(self, email: Optional[str] = None, _auth_domain: Optional[str] = None,
                 _user_id: Optional[str] = None, federated_identity: Optional[str] = None,
                 federated_provider: Optional[str] = None, _strict_mode: bool = True) -> None:
        env = _environ()
        if email is None:
            email = env.get("USER_EMAIL", "")
            _user_id = _user_id or env.get("USER_ID") or None
        if not email and _strict_mode:
            raise UserNotFoundError()
        self.__email = email
        self.__auth_domain = _auth_domain or env.get("AUTH_DOMAIN", "gmail.com")
        self.__user_id = _user_id or None
        self.__federated_identity = federated_identity
        self.__federated_provider = federated_provider

    def nickname(self) -> str:
        if self.__email and self.__auth_domain and self.__email.endswith("@" + self.__auth_domain):
            return self.__email[: -len(self.__auth_domain) - 1]
        return self.__email

    def email(self) -> str:
        return self.__email

    def user_id(self) -> Optional[str]:
        return self.__user_id

    def auth_domain(self) -> str:
        return self.__auth_domain

    def federated_identity(self) -> Optional[str]:
        return self.__federated_identity

    def federated_provider(self) -> Optional[str]:
        return self.__federated_provider

    def __str__(self) -> str:
        return self.nickname()

    def __repr__(self) -> str:
        return f"users.User(email={self.__email!r}, _user_id={self.__user_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, User) and (self.__email, self.__auth_domain) == (other.__email, other.__auth_domain)

    def __hash__(self) -> int:
        return hash((self.__email, self.__auth_domain))


def get_current_user() -> Optional[User]:
    try:
        return User()
    except UserNotFoundError:
        return None


def is_current_user_admin() -> bool:
    return _environ().get("USER_IS_ADMIN", "0") == "1"


def create_login_url(dest_url: Optional[str] = None, _auth_domain: Optional[str] = None,
                     federated_identity: Optional[str] = None) -> str:
    return "/_ah/login?continue=" + quote(dest_url or "/", safe="")


def create_logout_url(dest_url: Optional[str] = None, _auth_domain: Optional[str] = None) -> str:
    return "/_ah/logout?continue=" + quote(dest_url or "/", safe="")
