"""Loading valid app.yaml files: merge order, builtins, script forms, entrypoints, defaults."""
from __future__ import annotations

import sys
from textwrap import dedent
from pathlib import Path

import pytest

from gae_emu.config.appyaml import format_handler_table, load_app_yaml, load_builtin_app_yaml
from gae_emu.config.handlers import DEFERRED_REF, parse_entrypoint
from gae_emu.config.models import ScriptRef

HEAD = "runtime: python27\napi_version: 1\nthreadsafe: true\n"
REPO = Path(__file__).resolve().parents[2]


def urls(app):
    return [h.url for h in app.handlers]


def test_python27_dotted_script_and_fields(write, app_dir):
    (app_dir / "static").mkdir()
    write("app.yaml", HEAD + dedent("""
        version: 2
        default_expiration: 1h 30m
        env_variables:
          A: 1
          B: "x"
        handlers:
        - url: /static
          static_dir: static
          expiration: 4d 5h 30m 15s
          http_headers:
            X-Foo: bar
        - url: /img/(.*\\.png)
          static_files: img/\\1
          upload: img/.*\\.png
          mime_type: image/png
          require_matching_file: true
        - url: /admin/.*
          script: pkg.web.app
          login: admin
          auth_fail_action: unauthorized
          redirect_http_response_code: 301
        - url: /.*
          script: main.app
    """))
    (app_dir / "pkg").mkdir()
    (app_dir / "pkg" / "__init__.py").write_text("")
    (app_dir / "pkg" / "web.py").write_text("app = lambda environ, start_response: []\n")
    app = load_app_yaml("app/app.yaml")
    assert app.path == (app_dir / "app.yaml").resolve() and app.root == app_dir.resolve()
    assert (app.version, app.threadsafe, app.api_version, app.application) == ("2", True, "1", "app")
    assert app.default_expiration == 5400
    assert app.env_variables == (("A", "1"), ("B", "x"))
    static, files, admin, main = app.handlers
    assert static.kind == "static_dir" and static.static_dir == (app_dir / "static").resolve()
    assert static.expiration == 4 * 86400 + 5 * 3600 + 30 * 60 + 15
    assert static.http_headers == (("X-Foo", "bar"),)
    assert static.pattern.match("/static/css/a.css") and not static.pattern.match("/staticx")
    assert files.static_files == "img/\\1" and files.upload == "img/.*\\.png" and files.require_matching_file
    assert files.pattern.match("/img/a.png").expand(files.static_files) == "img/a.png"
    assert admin.script == ScriptRef("pkg.web", "app") and admin.login == "admin"
    assert admin.auth_fail_action == "unauthorized" and admin.redirect_http_response_code == 301
    assert main.script == ScriptRef("main", "app") and main.source == "app/app.yaml:26"
    assert main.pattern.match("/x")
    assert admin.pattern.match("/admin/x") and not admin.pattern.match("/x/admin/y")


@pytest.mark.parametrize("text, seconds", [("10", 10), ("10s", 10), ("4d 5h 30m 15s", 365415),
                                           ("7d 7d 7d", 21 * 86400), ("2M", 120), (" 1h ", 3600)])
def test_expiration_parsing(write, text, seconds):
    write("app.yaml", HEAD + f"default_expiration: '{text}'\n")
    assert load_app_yaml("app").default_expiration == seconds


def test_includes_merge_order_and_position_tail(write):
    write("app.yaml", HEAD + dedent("""
        builtins:
        - deferred: on
        includes:
        - first.yaml
        - lib
        env_variables:
          SHARED: app
          ONLY_APP: a
        handlers:
        - url: /own
          script: main.app
    """))
    write("first.yaml", """
        env_variables:
          SHARED: first
        includes:
        - nested.yaml
        handlers:
        - url: /first-head
          script: main.app
        - url: /first-tail
          script: main.app
          position: tail
    """)
    write("nested.yaml", "handlers:\n- url: /nested\n  script: main.app\n")
    write("lib/include.yaml", "env_variables:\n  SHARED: lib\nhandlers:\n- url: /lib\n  script: main.app\n"
                              "  position: head\n- url: /lib-tail\n  script: main.app\n  position: tail\n")
    app = load_app_yaml("app")
    assert urls(app) == ["/_ah/queue/deferred", "/first-head", "/nested", "/lib", "/own",
                         "/first-tail", "/lib-tail"]
    assert all(h.position is None for h in app.handlers)
    # App Engine: an included file's value overrides app.yaml's, the last include wins.
    assert dict(app.env_variables) == {"SHARED": "lib", "ONLY_APP": "a"}
    assert app.handlers[2].source == "app/nested.yaml:2"
    assert app.handlers[3].source == "app/lib/include.yaml:4"


def test_an_include_cycle_is_followed_once(write):
    write("app.yaml", HEAD + "includes:\n- a.yaml\n")
    write("a.yaml", "includes:\n- b.yaml\nhandlers:\n- url: /a\n  script: main.app\n")
    write("b.yaml", "includes:\n- a.yaml\nhandlers:\n- url: /b\n  script: main.app\n")
    assert urls(load_app_yaml("app")) == ["/a", "/b"]


def test_builtins_deferred(write):
    write("app.yaml", HEAD + "builtins:\n- deferred: on\n- remote_api: off\nhandlers:\n- url: /.*\n  script: main.app\n")
    app = load_app_yaml("app")
    deferred = app.handlers[0]
    assert app.builtins == ("deferred",)
    assert (deferred.url, deferred.login, deferred.script) == ("/_ah/queue/deferred", "admin", DEFERRED_REF)
    assert deferred.script == ScriptRef("gae_emu.handlers.deferred", "application", builtin=True)
    assert deferred.source == "app/app.yaml:5 (builtins: deferred)"
    assert deferred.pattern.match("/_ah/queue/deferred")


@pytest.mark.parametrize("script", [
    "$PYTHON_LIB/google/appengine/ext/deferred/handler.py",
    "google.appengine.ext.deferred.deferred.application",
    "google.appengine.ext.deferred.application",
])
def test_sdk_deferred_script_forms(write, script):
    write("app.yaml", HEAD + f"handlers:\n- url: /_ah/queue/deferred\n  script: {script}\n  login: admin\n")
    handler = load_app_yaml("app").handlers[0]
    assert handler.script == DEFERRED_REF and handler.script.builtin


@pytest.mark.parametrize("command, ref", [
    ("gunicorn -b :$PORT main:app", ScriptRef("main", "app")),
    ("gunicorn -b 0.0.0.0:8080 -w 2 --threads 8 web.wsgi:application", ScriptRef("web.wsgi", "application")),
    ("uvicorn --port $PORT asgi:api", ScriptRef("asgi", "api")),
    ("python main.py", None),
    ("gunicorn 'unbalanced main:app", ScriptRef("main", "app")),
])
def test_parse_entrypoint(command, ref):
    assert parse_entrypoint(command) == ref


def test_python3_script_auto_and_catch_all(write, app_dir):
    (app_dir / "web").mkdir()
    (app_dir / "web" / "__init__.py").write_text("")
    (app_dir / "web" / "wsgi.py").write_text("application = lambda e, s: []\n")
    write("app.yaml", """
        runtime: python312
        entrypoint: gunicorn -b :$PORT web.wsgi:application
        service: worker
        handlers:
        - url: /api/.*
          script: auto
    """)
    app = load_app_yaml("app")
    assert app.is_python3 and app.service == "worker" and app.entrypoint.endswith("web.wsgi:application")
    api, catch_all = app.handlers
    assert api.script == catch_all.script == ScriptRef("web.wsgi", "application")
    assert catch_all.url == "/.*" and catch_all.pattern.match("/anything/at/all")
    assert "web" not in sys.modules and "web.wsgi" not in sys.modules  # the import check cleaned up


def test_python3_defaults_to_main_app_and_keeps_an_existing_catch_all(write):
    write("app.yaml", "runtime: python311\n")
    app = load_app_yaml("app")
    assert [(h.url, h.script) for h in app.handlers] == [("/.*", ScriptRef("main", "app"))]
    write("app.yaml", "runtime: python311\nhandlers:\n- url: /.*\n  script: auto\n  login: required\n")
    assert [(h.url, h.login) for h in load_app_yaml("app").handlers] == [("/.*", "required")]


def test_check_imports_off_skips_import_errors(write):
    write("app.yaml", HEAD + "handlers:\n- url: /.*\n  script: not_there.app\n")
    assert load_app_yaml("app", check_imports=False).handlers[0].script == ScriptRef("not_there", "app")


def test_import_check_does_not_see_another_services_main(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, body in (("one", "app = lambda e, s: []\n"), ("two", "other = 1\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.py").write_text(body)
        (tmp_path / name / "app.yaml").write_text(HEAD + "handlers:\n- url: /.*\n  script: main.app\n")
    load_app_yaml("one")
    with pytest.raises(Exception) as info:
        load_app_yaml("two")
    assert "module 'main' has no attribute 'app'" in str(info.value)


def test_default_application_and_explicit_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "My_Cool.App"
    root.mkdir()
    (root / "app.yaml").write_text(HEAD)
    assert load_app_yaml(root).application == "my-cool-app"
    (root / "app.yaml").write_text(HEAD + "application: s~real-id\n")
    assert load_app_yaml(root / "app.yaml").application == "real-id"


def test_accepted_keys(write, app_dir):
    (app_dir / "err.html").write_text("oops")
    write("app.yaml", HEAD + dedent("""
        module: mod
        instance_class: F2
        basic_scaling:
          max_instances: 2
          idle_timeout: 10m
        vpc_access_connector:
          name: projects/p/locations/l/connectors/c
        inbound_services: [warmup, mail]
        skip_files:
        - ^(.*/)?\\.bak$
        libraries:
        - name: jinja2
          version: latest
        app_engine_apis: true
        error_handlers:
        - file: err.html
          error_code: over_quota
        - file: err.html
    """))
    app = load_app_yaml("app")
    assert app.service == "mod" and app.inbound_services == ("warmup", "mail")
    assert app.skip_files == ("^(.*/)?\\.bak$",) and app.libraries == (("jinja2", "latest"),)
    assert app.app_engine_apis is True
    assert [(e.file.name, e.error_code) for e in app.error_handlers] == [("err.html", "over_quota"), ("err.html", None)]


def test_builtin_app_yaml_of_the_repo():
    handlers = load_builtin_app_yaml(REPO / "app.yaml")
    assert handlers and all(h.script is not None and h.script.builtin for h in handlers)
    assert all(h.script.module.startswith("gae_emu.handlers.") for h in handlers)
    assert "/_ah/login" in [h.url for h in handlers]


def test_builtin_app_yaml_refuses_app_scripts(write):
    path = write("builtin.yaml", HEAD + "handlers:\n- url: /x\n  script: main.app\n")
    with pytest.raises(Exception) as info:
        load_builtin_app_yaml(path)
    assert "may only name gae_emu.* applications" in str(info.value)


def test_format_handler_table(write):
    write("app.yaml", HEAD + "builtins:\n- deferred: on\nhandlers:\n- url: /.*\n  script: main.app\n  login: required\n")
    table = format_handler_table(load_app_yaml("app")).splitlines()
    assert table[0].endswith("(service default, version 1, runtime python27)")
    assert table[1].split() == ["#", "url", "kind", "target", "login", "source"]
    assert table[2].split()[:6] == ["1", "/_ah/queue/deferred", "script",
                                    "gae_emu.handlers.deferred:application", "(built-in)", "admin"]
    assert table[3].split() == ["2", "/.*", "script", "main:app", "required", "app/app.yaml:7"]
