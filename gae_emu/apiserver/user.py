"""`user` over the wire: CreateLoginURL and CreateLogoutURL, pointing at the emulator's own
`/_ah/login` and `/_ah/logout` pages.

As dev_appserver's user stub does, a relative destination is made absolute with the calling
request's Host, so the login page sends the user back to the service that asked. `get_current_user()`
makes no call at all: the library reads the `X-AppEngine-User-*` headers the runtime adds.

Not supported yet: `federated_identity` (ignored, as App Engine itself retired it) and GetOAuthUser
(CALL_NOT_FOUND).

Imports: the standard library, this package.
"""
from __future__ import annotations

from typing import Any, Dict
from urllib.parse import quote, urljoin

from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler

LOGIN_PATH = "/_ah/login"
LOGOUT_PATH = "/_ah/logout"


def _continue_url(destination: str, call: Call) -> str:
    host = call.environ.get("HTTP_HOST") or "localhost"
    scheme = call.environ.get("wsgi.url_scheme") or "http"
    return urljoin(f"{scheme}://{host}/", destination or "/")


class User(ServiceHandler):
    name = "user"

    def methods(self) -> Dict[str, Method]:
        u = pb().user
        return {
            "CreateLoginURL": (u.CreateLoginURLRequest, self.create_login_url),
            "CreateLogoutURL": (u.CreateLogoutURLRequest, self.create_logout_url),
        }

    def create_login_url(self, request: Any, call: Call) -> Any:
        response = pb().user.CreateLoginURLResponse()
        response.login_url = f"{LOGIN_PATH}?continue={quote(_continue_url(request.destination_url, call), safe='')}"
        return response

    def create_logout_url(self, request: Any, call: Call) -> Any:
        response = pb().user.CreateLogoutURLResponse()
        response.logout_url = f"{LOGOUT_PATH}?continue={quote(_continue_url(request.destination_url, call), safe='')}"
        return response
