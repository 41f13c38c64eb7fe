"""`/_ah/login` and `/_ah/logout` never redirect off-site, whatever spelling `continue=` uses."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from gae_emu.handlers.login import safe_continue

APP = """
runtime: python27
api_version: 1
threadsafe: true
handlers:
- url: /.*
  script: main.app
"""

# Each of these is resolved off-site by a browser (WHATWG URL parsing) if followed as given.
OFF_SITE = [
    "//evil.example/",
    "////evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "\x01//evil.example",
    "http:evil.example",
    "http:/evil.example",
    "http:///evil.example",
    "http:\\\\evil.example",
    "https://evil.example/",
    "http://evil.example/",
    "http://localhost.evil.example/",
    "http://localhost@evil.example/",
    "http://evil.example\\@localhost/",
    "http://localhost:9999/",
    "https://localhost/",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_off_site_targets_go_home(target):
    assert safe_continue(target, "http", "localhost") == "/"


@pytest.mark.parametrize("target,expected", [
    ("/", "/"),
    ("/next?a=b#c", "/next?a=b#c"),
    ("/a/%2F/b", "/a/%2F/b"),
    ("http://localhost/required?a=b", "http://localhost/required?a=b"),
    ("HTTP://LOCALHOST:80/x", "HTTP://LOCALHOST:80/x"),
    ("/caf\u00e9 x", "/caf%C3%A9%20x"),
])
def test_same_site_targets_are_kept(target, expected):
    assert safe_continue(target, "http", "localhost") == expected


def test_same_site_absolute_url_needs_the_request_port():
    assert safe_continue("http://localhost:8080/x", "http", "localhost:8080") == "http://localhost:8080/x"
    assert safe_continue("http://localhost/x", "http", "localhost:8080") == "/"


@pytest.mark.parametrize("path", ["/_ah/login?action=Login&email=a@example.com", "/_ah/logout?x=1"])
@pytest.mark.parametrize("encoded", ["%2F%2F%2F%2Fevil.example%2F", "http%3Aevil.example", "%2F%5Cevil.example",
                                     "http%3A%2F%2F%2Fevil.example", "%09%2F%2Fevil.example"])
def test_login_and_logout_redirect_home_through_the_router(make_router, client_for, path, encoded):
    client = client_for(make_router(APP))
    response = client.get(f"{path}&continue={encoded}")
    assert response.status_code == 302
    assert response.headers["Location"] in ("/", "http://localhost/"), response.headers["Location"]


def test_login_form_keeps_a_same_site_continue(make_router, client_for):
    client = client_for(make_router(APP))
    form = client.get("/_ah/login?continue=" + quote("/next?a=1", safe=""))
    assert 'name="continue" value="/next?a=1"' in form.get_data(as_text=True)
