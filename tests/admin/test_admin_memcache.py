"""The admin console's Memcache page over HTTP, on an app using Google's memcache client: values
the app stored are shown by type (a pickle described, never unpickled), a value set from the console
is what the app reads, flushing asks first."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from gae_emu.testing import HttpClient, emulator

APP = Path(__file__).resolve().parents[1] / "integration" / "apps" / "console" / "std"


@pytest.fixture(scope="module")
def emu():
    pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed")
    with emulator(APP, args=["--no-enable-task-running"]) as handle:
        yield handle


def token(admin: HttpClient) -> str:
    return re.search(r'name="xsrf_token" value="([^"]+)"', admin.get("/memcache").text).group(1)


def test_lookup_set_and_flush(emu):
    admin = HttpClient(emu.admin_url)
    assert emu.client.get("/memcache-seed").text == "seeded"
    page = admin.get("/memcache", params={"key": "greeting"}).text
    assert "(str, 9 bytes): <code class=\"value\">&#x27;hello &lt;b&gt;&#x27;</code>" in page
    record = admin.get("/memcache", params={"key": "record"}).text
    assert "pickled" in record and "&#x27;n&#x27;: 1" in record
    assert "No value for key" in admin.get("/memcache", params={"key": "other-ns"}).text
    assert "(int, 1 bytes)" in admin.get("/memcache", params={"key": "other-ns", "namespace": "ns1"}).text

    set_answer = admin.post("/memcache/set", {"xsrf_token": token(admin), "key": "answer", "value": "42", "type": "int"})
    assert set_answer.status_code == 303
    assert emu.client.get("/memcache-get", params={"key": "answer"}).json() == 42
    stats = emu._api("GET", "/memcache")["stats"]
    assert stats["hits"] >= 4 and stats["items"] == 4

    asked = admin.post("/memcache/flush", {"xsrf_token": token(admin)})
    assert asked.status_code == 200 and "Flush the cache?" in asked.text
    assert emu._api("GET", "/memcache")["stats"]["items"] == 4  # asking changed nothing
    done = admin.post("/memcache/flush", {"xsrf_token": token(admin), "confirm": "yes"})
    assert done.status_code == 303 and emu._api("GET", "/memcache")["stats"]["items"] == 0


def test_set_without_the_token_is_refused(emu):
    admin = HttpClient(emu.admin_url)
    assert admin.post("/memcache/set", {"key": "x", "value": "1"}).status_code == 403
    assert admin.post("/memcache/set", {"xsrf_token": token(admin), "key": "x", "value": "nan", "type": "int"}).status_code == 400
