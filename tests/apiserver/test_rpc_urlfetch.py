"""urlfetch's request rules through the wire format, without a network: URL, port, method and payload
checks answer production's codes; headers get production's User-Agent suffix. (Real fetches are in
tests/integration/test_urlfetch_server.py.)"""
from __future__ import annotations

from typing import Any

import pytest

from gae_emu.apiserver.protos import pb

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)


def request(url: str, **fields: Any) -> Any:
    return pb().urlfetch.URLFetchRequest(Url=url, Method=fields.pop("Method", 1), **fields)


@pytest.mark.parametrize("url, code", [
    ("ftp://example.com/", 1),
    ("http:///nohost", 1),
    ("http://127.0.0.1:22/", 1),
    ("http://127.0.0.1:100/", 1),
    ("http://127.0.0.1:99999/", 1),
    ("http://example.com/" + "a" * 10240, 1),
])
def test_urls_production_refuses_are_invalid_url(rpc, url, code):
    assert rpc.app_error("urlfetch", "Fetch", request(url)).code == code


def test_payload_over_ten_mebibytes_is_payload_too_large(rpc):
    big = request("http://127.0.0.1:8080/", Method=2, Payload=b"x" * (10 * 1024 * 1024 + 1))
    assert rpc.app_error("urlfetch", "Fetch", big).code == 13


def test_headers_keep_the_apps_own_and_drop_the_services(testbed):
    from gae_emu.apiserver.urlfetch import Fetcher, allowed_port

    message = request("http://x/")
    for key, value in [("Host", "h"), ("Content-Length", "9"), ("X-Forwarded-For", "1.2.3.4"), ("X-A", "1"),
                       ("user-agent", "bot/1")]:
        message.header.add(Key=key, Value=value)
    headers, own_encoding = Fetcher("dev~my-app").headers(message)
    assert headers == [("X-A", "1"), ("User-Agent", "bot/1 AppEngine-Google; (+http://code.google.com/appengine; "
                                                    "appid: my-app)"), ("Accept-Encoding", "gzip")]
    assert not own_encoding
    assert [p for p in (79, 80, 90, 91, 439, 440, 450, 451, 1023, 1024, 65535) if allowed_port(p)] == [
        80, 90, 440, 450, 1024, 65535]
