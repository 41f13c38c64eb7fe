"""The admin console's guards: CSRF token, same-origin check, Host check, login on app ports, escaping."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from gae_emu.testing import HttpClient

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def host_of(url: str) -> str:
    return urlsplit(url).netloc


# -- CSRF token and same origin ---------------------------------------------------------------------


def test_form_post_without_token_is_refused(paused, admin):
    name = paused.client.get("/defer?name=c").json()["task"]
    response = admin.post(f"/queues/default/tasks/{name}/run", data={"other": "x"})
    assert response.status == 403
    assert "xsrf_token" in response.text
    assert admin.post(f"/queues/default/tasks/{name}/run", data={"xsrf_token": "wrong"}).status == 403
    assert len(paused.tasks()) == 1  # nothing ran


def test_form_post_with_token_and_same_origin_is_done(paused, admin, token_of):
    name = paused.client.get("/defer?name=c&amount=4").json()["task"]
    token = token_of(admin, "/queues/default")
    origin = {"Origin": paused.admin_url}
    response = admin.post(f"/queues/default/tasks/{name}/run", data={"xsrf_token": token}, headers=origin)
    assert response.status == 303
    assert response.headers["Location"].endswith("/queues/default?msg=Task+" + name + "+ran%3A+HTTP+200%2C+done.")
    assert paused.tasks() == []
    assert paused.client.get("/count?name=c").json()["count"] == 4


def test_foreign_origin_or_referer_is_refused_even_with_the_token(paused, admin, token_of):
    name = paused.client.get("/defer?name=c").json()["task"]
    token = token_of(admin, "/queues/default")
    action = f"/queues/default/tasks/{name}/delete"
    port = urlsplit(paused.admin_url).port
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": f"http://localhost:{port + 1}"}, {"Referer": "http://evil.example/page"}):
        response = admin.post(action, data={"xsrf_token": token}, headers=headers)
        assert response.status == 403, headers
    assert len(paused.tasks()) == 1
    api = admin.post(f"/api/queues/default/tasks/{name}/delete",
                     headers={"X-Requested-With": "x", "Origin": "http://evil.example"})
    assert api.status == 403
    assert len(paused.tasks()) == 1


def test_api_post_needs_x_requested_with(paused, admin):
    paused.client.get("/defer?name=c")
    response = admin.post("/api/queues/default/purge", data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status == 403 and "X-Requested-With" in response.json()["error"]
    assert admin.post("/api/reset", data={"xsrf_token": "anything"}).status == 403  # a plain form
    assert len(paused.tasks()) == 1


def test_foreign_host_is_refused_on_both_ports(paused):
    for base in (paused.admin_url, paused.url):
        client = HttpClient(base)
        for path in ("/queues", "/api/queues", "/_ah/admin/api/queues"):
            response = client.get(path, headers={"Host": "evil.example"})
            assert response.status == 400, (base, path)
        assert client.post("/api/reset", headers={"Host": "rebind.example:80", "X-Requested-With": "x"}).status == 400
    assert HttpClient(paused.admin_url).get("/api/queues", headers={"Host": "localhost"}).status == 200


# -- /_ah/admin on the app port -------------------------------------------------------------------


def test_ah_admin_on_the_app_port_refuses_anonymous_and_non_admin(paused):
    client = HttpClient(paused.url)
    anonymous = client.get("/_ah/admin/queues")
    assert anonymous.status == 302 and "/_ah/login" in anonymous.headers["Location"]
    assert client.get("/_ah/admin/api/queues").status == 302
    client.login("user@example.com", admin=False)
    assert client.get("/_ah/admin/queues").status == 401
    assert client.post("/_ah/admin/api/reset", headers={"X-Requested-With": "x"}).status == 401


def test_ah_admin_on_the_app_port_serves_an_admin(paused, token_of):
    client = HttpClient(paused.url)
    client.login("admin@example.com", admin=True)
    assert client.get("/_ah/admin").status == 302
    page = client.get("/_ah/admin/queues")
    assert page.status == 200
    assert 'href="/_ah/admin/queues/default"' in page.text  # links stay under /_ah/admin
    assert client.get("/_ah/admin/api/queues").json()["queues"]
    name = paused.client.get("/defer?name=c&amount=2").json()["task"]
    token = token_of(client, "/_ah/admin/queues/default")
    response = client.post(f"/_ah/admin/queues/default/tasks/{name}/run", data={"xsrf_token": token},
                           headers={"Origin": paused.url})
    assert response.status == 303 and response.headers["Location"].startswith("/_ah/admin/queues/default?")
    assert paused.client.get("/count?name=c").json()["count"] == 2


# -- escaping -------------------------------------------------------------------------------------------


def test_entity_values_are_escaped_and_pages_allow_no_script(paused, admin):
    note = paused.client.get("/seed").json()["note"]
    for path in ("/datastore?kind=Note", f"/datastore/entity/{note}", "/datastore?kind=Counter"):
        page = admin.get(path)
        assert page.status == 200
        assert XSS not in page.text and ESCAPED in page.text, path
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert page.headers["X-Frame-Options"] == "DENY"


def test_task_payloads_headers_and_names_are_escaped(paused, admin):
    paused.client.get("/defer?name=c&label=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    page = admin.get("/queues/default")
    assert XSS not in page.text
    assert "&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in page.text  # the deferred kwarg, as repr
    log = admin.get("/requests")
    assert XSS not in log.text and "%3Cscript%3E" in log.text


def test_messages_and_error_pages_are_escaped(admin):
    assert XSS not in admin.get("/queues?msg=" + XSS).text
    missing = admin.get("/queues/" + "%3Cb%3Ex")
    assert missing.status == 404 and "<b>x" not in missing.text
    assert re.search(r"No queue named &#x27;&lt;b&gt;x&#x27;", missing.text)
