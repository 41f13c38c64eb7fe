"""The HTTP client of the test handle (`gae_emu.client`): requests' shape on the standard library.

Responses have `status_code`, `text`, `content`, `json()`, case-insensitive `headers`, `url` and
`history` as `requests.Response` has (`status` and `body` stay as the old names). The client keeps
cookies (a login lasts), takes `params=`, `data=` (a dict is form-encoded) and `json=`, and does not
follow redirects unless asked (`allow_redirects=True`): tests of App Engine apps look at them
(login redirects, POST-redirect-GET).

Imports: the standard library only.
"""
from __future__ import annotations

import http.cookiejar
import json as jsonlib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, MutableMapping, Optional, Tuple, Union

MAX_REDIRECTS = 30  # requests' limit


class LoginError(RuntimeError):
    """The emulated sign-in page did not sign in."""


class Headers(MutableMapping[str, str]):
    """Response headers looked up in any case, as `requests.structures.CaseInsensitiveDict`; a
    repeated header reads as its values joined by ", " (Set-Cookie too: `get_all` gives each)."""

    def __init__(self, items: Union[Mapping[str, str], List[Tuple[str, str]], None] = None) -> None:
        self._items: Dict[str, Tuple[str, List[str]]] = {}
        pairs = items.items() if isinstance(items, Mapping) else (items or [])
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        spelled, values = self._items.get(name.lower(), (name, []))
        self._items[name.lower()] = (spelled, values + [value])

    def get_all(self, name: str) -> List[str]:
        return list(self._items.get(name.lower(), ("", []))[1])

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._items[name.lower()][1])

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, [value])

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return (spelled for spelled, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return {k.lower(): v for k, v in self.items()} == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class HttpResponse:
    status_code: int
    headers: Headers
    content: bytes
    url: str = ""
    history: List["HttpResponse"] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)

    @property
    def status(self) -> int:
        """The old name of `status_code`."""
        return self.status_code

    @property
    def body(self) -> bytes:
        """The old name of `content`."""
        return self.content

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, "replace")

    @property
    def encoding(self) -> str:
        _, params = _content_type(self.headers.get("Content-Type", ""))
        return params.get("charset", "utf-8")

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "Location" in self.headers

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise AssertionError(f"{self.status_code} for {self.url}: {self.text[:500]}")


def _content_type(value: str) -> Tuple[str, Dict[str, str]]:
    kind, *rest = [part.strip() for part in value.split(";")]
    params = {}
    for part in rest:
        key, _, val = part.partition("=")
        params[key.strip().lower()] = val.strip().strip('"')
    return kind.lower(), params


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpClient:
    """A cookie-keeping HTTP client for one base URL (absolute URLs work too)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())

    def request(self, method: str, path: str, data: Union[bytes, str, Dict[str, Any], None] = None,
                headers: Optional[Dict[str, str]] = None, timeout: float = 30.0, *, params: Any = None,
                json: Any = None, allow_redirects: bool = False) -> HttpResponse:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
        headers = dict(headers or {})
        if json is not None:
            data = jsonlib.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(data, dict):
            data = urllib.parse.urlencode(data, doseq=True)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if isinstance(data, str):
            data = data.encode("utf-8")
        response = self._send(method.upper(), url, data, headers, timeout)
        history: List[HttpResponse] = []
        while allow_redirects and response.is_redirect:
            if len(history) >= MAX_REDIRECTS:
                raise AssertionError(f"more than {MAX_REDIRECTS} redirects from {url}")
            history.append(response)
            if response.status_code in (301, 302, 303) and method.upper() != "HEAD":
                method, data = "GET", None  # as browsers and requests do
                headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
            next_url = urllib.parse.urljoin(response.url, response.headers["Location"])
            response = self._send(method.upper(), next_url, data, headers, timeout)
        response.history = history
        return response

    def _send(self, method: str, url: str, data: Optional[bytes], headers: Dict[str, str], timeout: float) -> HttpResponse:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                return HttpResponse(resp.status, Headers(list(resp.headers.items())), resp.read(), url)
        except urllib.error.HTTPError as err:
            return HttpResponse(err.code, Headers(list(err.headers.items())), err.read(), url)

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, data=data, **kwargs)

    def put(self, path: str, data: Any = None, **kwargs: Any) -> HttpResponse:
        return self.request("PUT", path, data=data, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("DELETE", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("HEAD", path, **kwargs)

    def login(self, email: str = "test@example.com", admin: bool = False) -> None:
        """Sign in through the emulated `/_ah/login` (the cookie lasts until `logout()`)."""
        query = urllib.parse.urlencode({"email": email, "admin": str(admin), "action": "Login", "continue": "/"})
        resp = self.get(f"/_ah/login?{query}")
        if resp.status_code != 302:
            raise LoginError(f"login failed: {resp.status_code} {resp.text[:200]}")

    def logout(self) -> None:
        self.get("/_ah/logout?continue=/")
        self.cookies.clear()
