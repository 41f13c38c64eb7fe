"""The router: first-match order, anchored path matching, login rules, header stripping, errors."""
from __future__ import annotations

import json

from werkzeug.test import EnvironBuilder

from gae_emu.runtime.environ import INTERNAL_KEY
from gae_emu.services.users import cookie_value

APP = """
runtime: python27
api_version: 1
threadsafe: true
handlers:
- url: /first/.*
  script: main.app
- url: /first/second
  static_files: never.txt
  upload: never.txt
- url: /required
  script: main.app
  login: required
- url: /unauthorized
  script: main.app
  login: required
  auth_fail_action: unauthorized
- url: /admin/.*
  script: main.app
  login: admin
- url: /.*
  script: main.app
"""


def login(client, email="someone@example.com", admin=False):
    client.set_cookie("dev_appserver_login", cookie_value(email, admin), domain="localhost")


def test_first_matching_handler_wins_and_url_is_anchored(make_router, client_for):
    router = make_router(APP)
    assert router.match("/first/second").url == "/first/.*"
    assert router.match("/x/first/second").url == "/.*"  # anchored at the start
    assert router.match("/required").url == "/required"
    assert router.match("/requiredX").url == "/.*"  # and at the end


def test_query_string_is_not_matched(make_router, client_for):
    client = client_for(make_router(APP))
    assert client.get("/required?x=1").status_code == 302
    assert client.get("/other?u=/required").status_code == 200


def test_login_required_redirects_anonymous_to_login(make_router, client_for):
    client = client_for(make_router(APP))
    response = client.get("/required?a=b")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/_ah/login?continue=http%3A%2F%2Flocalhost%2Frequired%3Fa%3Db"


def test_auth_fail_action_unauthorized_gives_401(make_router, client_for):
    client = client_for(make_router(APP))
    response = client.get("/unauthorized")
    assert response.status_code == 401
    assert response.get_data(as_text=True) == "Login required to view page."


def test_login_admin_refuses_anonymous_and_non_admin_and_serves_admin(make_router, client_for):
    client = client_for(make_router(APP))
    assert client.get("/admin/x").status_code == 302
    login(client, "user@example.com", admin=False)
    response = client.get("/admin/x")
    assert response.status_code == 401
    assert "user@example.com is not authorized" in response.get_data(as_text=True)
    login(client, "boss@example.com", admin=True)
    assert client.get("/admin/x").status_code == 200


def test_fake_is_admin_header_grants_nothing_and_never_reaches_the_app(make_router, client_for):
    client = client_for(make_router(APP))
    assert client.get("/admin/x", headers={"X-AppEngine-Fake-Is-Admin": "1"}).status_code == 302
    seen = json.loads(client.get("/other", headers={"X-AppEngine-Fake-Is-Admin": "1"}).data)
    assert "HTTP_X_APPENGINE_FAKE_IS_ADMIN" not in seen


def test_appengine_headers_from_outside_are_stripped(make_router, client_for):
    client = client_for(make_router(APP))
    headers = {"X-AppEngine-TaskName": "spoof", "X-AppEngine-QueueName": "default", "X-AppEngine-Country": "US",
               "X-Google-Whatever": "1", "X-AppEngine-User-Email": "ceo@example.com"}
    seen = json.loads(client.get("/other", headers=headers).data)
    assert "HTTP_X_APPENGINE_TASKNAME" not in seen
    assert "HTTP_X_APPENGINE_QUEUENAME" not in seen
    assert "HTTP_X_GOOGLE_WHATEVER" not in seen
    assert seen["HTTP_X_APPENGINE_COUNTRY"] == "ZZ"  # ours, not theirs
    assert "HTTP_X_APPENGINE_USER_EMAIL" not in seen
    assert seen["USER_EMAIL"] == ""


def test_logged_in_admin_may_set_appengine_headers(make_router, client_for):
    client = client_for(make_router(APP))
    login(client, "boss@example.com", admin=True)
    seen = json.loads(client.get("/other", headers={"X-AppEngine-TaskName": "mine"}).data)
    assert seen["HTTP_X_APPENGINE_TASKNAME"] == "mine"
    assert seen["USER_IS_ADMIN"] == "1"
    assert seen["HTTP_X_APPENGINE_USER_EMAIL"] == "boss@example.com"


def test_internal_requests_pass_login_admin(make_router, client_for):
    router = make_router(APP)
    environ = EnvironBuilder(path="/admin/task", method="POST").get_environ()
    environ[INTERNAL_KEY] = True
    assert router.handle(environ).status_code == 200
    environ = EnvironBuilder(path="/admin/task", method="POST").get_environ()
    environ["gae_emu.internal"] = "True"  # only the real True counts
    assert router.handle(environ).status_code == 302


def test_app_engine_environ(make_router, client_for):
    router = make_router(APP + "env_variables:\n  GREETING: hello\n")
    client = client_for(router)
    login(client, "Ann@Example.com")
    seen = json.loads(client.get("/other").data)
    assert seen["SERVER_SOFTWARE"] == "Development/2.0"
    assert seen["APPLICATION_ID"].startswith("dev~")
    assert seen["CURRENT_MODULE_ID"] == "default"
    assert seen["CURRENT_VERSION_ID"].startswith("1.")
    assert seen["DEFAULT_VERSION_HOSTNAME"] == "localhost:8080"
    assert seen["USER_EMAIL"] == "Ann@Example.com"
    assert seen["USER_NICKNAME"] == "Ann"
    assert seen["USER_ORGANIZATION"] == "Example.com"
    assert seen["AUTH_DOMAIN"] == "gmail.com"
    assert seen["REQUEST_LOG_ID"]
    assert seen["GREETING"] == "hello"


def test_an_app_that_raises_gets_500_and_the_server_keeps_serving(make_router, client_for, caplog):
    client = client_for(make_router(APP))
    response = client.get("/boom")
    assert response.status_code == 500
    assert "RuntimeError" in caplog.text
    assert client.get("/other").status_code == 200


def test_a_malformed_status_line_is_the_apps_error(make_router, client_for, caplog):
    client = client_for(make_router(APP))
    assert client.get("/bad-status").status_code == 500
    assert "ValueError" in caplog.text and "/bad-status" in caplog.text


def test_no_handler_is_404(make_router, client_for):
    client = client_for(make_router(APP.replace("- url: /.*\n  script: main.app\n", "")))
    assert client.get("/nothing-here").status_code == 404


def test_body_on_get_is_400(make_router, client_for):
    client = client_for(make_router(APP))
    response = client.get("/other", data=b"body")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == '"GET" requests may not contain bodies.'


def test_non_normalised_path_redirects(make_router, client_for):
    client = client_for(make_router(APP))
    response = client.get("/a/./b/../c?q=1")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/a/c?q=1")


def test_foreign_host_is_refused(make_router, client_for):
    client = client_for(make_router(APP))
    response = client.get("/other", headers={"Host": "attacker.example"})
    assert response.status_code == 400
    assert client.get("/other", headers={"Host": "127.0.0.1:8080"}).status_code == 200


def test_builtin_login_is_routed_before_app_handlers(make_router, client_for):
    client = client_for(make_router(APP))
    response = client.get("/_ah/login?email=a@example.com&admin=True&action=Login&continue=/next")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/next")
    assert "dev_appserver_login" in response.headers["Set-Cookie"]
    form = client.get("/_ah/login")
    assert b"Sign in as administrator" in form.data


def test_local_hosts_only_checks_every_port():
    from werkzeug.test import Client

    from gae_emu.runtime.hosts import local_hosts_only

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    client = Client(local_hosts_only(app, ["dev.example"]))
    for host in ("localhost:8000", "worker.localhost", "127.0.0.1:1", "[::1]:80", "dev.example"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    for host in ("example.com", "localhost.example.com", "10.0.0.1", "127.0.0.1.nip.io"):
        assert client.get("/", headers={"Host": host}).status_code == 400, host
