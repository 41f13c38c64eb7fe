"""Every rejected app.yaml input: the exact `path:line:col: key.path: message` line."""
from __future__ import annotations

import pytest

from gae_emu.config.appyaml import load_app_yaml
from gae_emu.config.errors import ConfigError

HEAD = "runtime: python27\napi_version: 1\nthreadsafe: true\n"


def test_login_enum_points_at_the_value(app_errors):
    problems = app_errors(HEAD + "handlers:\n- url: /.*\n  script: main.app\n  login: admn\n")
    assert problems == ["app/app.yaml:7:10: handlers[0].login: 'admn' is not one of optional, required, admin"]


def test_error_str_is_one_problem_per_line(app_errors, write):
    write("app.yaml", HEAD + "handlerz: []\nhandlers:\n- url: /.*\n  script: main.app\n  secure: sometimes\n")
    with pytest.raises(ConfigError) as info:
        load_app_yaml("app")
    assert str(info.value) == (
        "app/app.yaml:4:1: handlerz: unknown key; did you mean 'handlers'?\n"
        "app/app.yaml:8:11: handlers[0].secure: 'sometimes' is not one of optional, never, always")


@pytest.mark.parametrize("field, value, message", [
    ("auth_fail_action", "deny", "'deny' is not one of redirect, unauthorized"),
    ("redirect_http_response_code", "308", "'308' is not one of 301, 302, 303, 307"),
    ("position", "middle", "'middle' is not one of head, tail"),
])
def test_handler_enums(app_errors, field, value, message):
    problems = app_errors(HEAD + f"handlers:\n- url: /.*\n  script: main.app\n  {field}: {value}\n")
    assert problems == [f"app/app.yaml:7:{len(field) + 5}: handlers[0].{field}: {message}"]


def test_unknown_top_level_key(app_errors):
    assert app_errors(HEAD + "colour: blue\n") == ["app/app.yaml:4:1: colour: unknown key"]


def test_wrong_types(app_errors):
    problems = app_errors("runtime: python27\napi_version: 1\nthreadsafe: maybe\nhandlers: /x\n"
                          "env_variables: [1]\n")
    assert problems == [
        "app/app.yaml:3:13: threadsafe: expected true or false, got a string ('maybe')",
        "app/app.yaml:4:11: handlers: expected a list, got a string ('/x')",
        "app/app.yaml:5:16: env_variables: expected a mapping, got a list",
    ]


def test_missing_runtime_and_bad_runtime(app_errors):
    assert app_errors("service: x\n") == ["app/app.yaml:1:1: runtime: missing required key 'runtime'"]
    assert app_errors("runtime: go121\n") == [
        "app/app.yaml:1:10: runtime: 'go121' is not a Python standard-environment runtime "
        "(python27, python39, python312, ...)"]


def test_python27_requires_threadsafe(app_errors):
    assert app_errors("runtime: python27\n") == [
        "app/app.yaml:1:1: threadsafe: python27 requires threadsafe: true or false"]


def test_url_anchors_and_bad_regex(app_errors):
    problems = app_errors(HEAD + "handlers:\n- url: ^/a\n  script: main.app\n- url: /b$\n  script: main.app\n"
                                 "- url: /c(\n  script: main.app\n")
    assert problems == [
        "app/app.yaml:5:8: handlers[0].url: '^/a' must not start with ^ or end with $: App Engine anchors the url itself",
        "app/app.yaml:7:8: handlers[1].url: '/b$' must not start with ^ or end with $: App Engine anchors the url itself",
        "app/app.yaml:9:8: handlers[2].url: '/c(' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 2",
    ]


def test_handler_needs_exactly_one_kind(app_errors, app_dir):
    (app_dir / "static").mkdir()
    problems = app_errors(HEAD + "handlers:\n- url: /a\n  login: admin\n"
                                 "- url: /b\n  script: main.app\n  static_dir: static\n")
    assert problems == [
        "app/app.yaml:5:3: handlers[0]: a handler needs exactly one of script, static_dir, static_files (found none)",
        "app/app.yaml:7:3: handlers[1]: a handler needs exactly one of script, static_dir, static_files "
        "(found script and static_dir)",
    ]


def test_missing_url(app_errors):
    assert app_errors(HEAD + "handlers:\n- script: main.app\n") == [
        "app/app.yaml:5:3: handlers[0]: missing required key 'url'"]


def test_field_of_another_handler_kind(app_errors, app_dir):
    (app_dir / "static").mkdir()
    problems = app_errors(HEAD + "handlers:\n- url: /s\n  static_dir: static\n  upload: x\n"
                                 "- url: /p\n  script: main.app\n  expiration: 1d\n")
    assert problems == [
        "app/app.yaml:7:3: handlers[0].upload: not allowed in a static_dir handler (allowed: "
        "application_readable, auth_fail_action, expiration, http_headers, login, mime_type, "
        "redirect_http_response_code, require_matching_file, secure, static_dir, url)",
        "app/app.yaml:10:3: handlers[1].expiration: not allowed in a script handler (allowed: "
        "auth_fail_action, login, position, redirect_http_response_code, script, secure, url)",
    ]


def test_static_files_needs_upload_and_valid_groups(app_errors):
    problems = app_errors(HEAD + "handlers:\n- url: /a\n  static_files: a.txt\n"
                                 "- url: /(.*)\n  static_files: s/\\2\n  upload: s/(.*\n")
    assert problems == [
        "app/app.yaml:5:3: handlers[0]: missing required key 'upload'",
        "app/app.yaml:8:17: handlers[1].static_files: refers to group \\2 but the url has 1 group(s)",
        "app/app.yaml:9:11: handlers[1].upload: 's/(.*' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 2",
    ]


def test_static_dir_must_exist_inside_the_app(app_errors):
    problems = app_errors(HEAD + "handlers:\n- url: /s\n  static_dir: nowhere\n- url: /t\n  static_dir: ..\n")
    assert problems[0].startswith("app/app.yaml:6:15: handlers[0].static_dir: directory 'nowhere' does not exist")
    assert problems[1] == "app/app.yaml:8:15: handlers[1].static_dir: '..' is outside the app directory"


def test_static_field_types(app_errors, app_dir):
    (app_dir / "s").mkdir()
    problems = app_errors(HEAD + "handlers:\n- url: /s\n  static_dir: s\n  expiration: 3 weeks\n"
                                 "  mime_type: html\n  require_matching_file: sometimes\n"
                                 "  http_headers:\n    Bad Name: x\n    X-Ok: [1]\n")
    assert problems == [
        "app/app.yaml:7:15: handlers[0].expiration: '3 weeks' is not a duration like '4d 5h 30m 15s' (units d, h, m, s)",
        "app/app.yaml:8:14: handlers[0].mime_type: 'html' is not a MIME type like text/html",
        "app/app.yaml:9:26: handlers[0].require_matching_file: expected true or false, got a string ('sometimes')",
        "app/app.yaml:11:5: handlers[0].http_headers.Bad Name: not a valid HTTP header name",
        "app/app.yaml:12:11: handlers[0].http_headers.X-Ok: expected a string, got a list",
    ]


def test_more_than_100_handlers(app_errors):
    handlers = "".join(f"- url: /h{i}\n  script: main.app\n" for i in range(101))
    assert app_errors(HEAD + "handlers:\n" + handlers) == [
        "app/app.yaml:4:1: handlers: 101 handlers (after includes); App Engine allows at most 100 "
        "(the first one too many is at app/app.yaml:205)"]


def test_script_forms_rejected(app_errors):
    problems = app_errors(HEAD + "handlers:\n- url: /a\n  script: main.py\n- url: /b\n  script: auto\n"
                                 "- url: /c\n  script: $PYTHON_LIB/google/appengine/ext/remote_api/handler.py\n"
                                 "- url: /d\n  script: app\n")
    assert problems == [
        "app/app.yaml:6:11: handlers[0].script: 'main.py' is a CGI script, which gae-emu does not run; "
        "name the WSGI application as package.module.attr",
        "app/app.yaml:8:11: handlers[1].script: 'auto' is for python3 runtimes; python27 names a WSGI app "
        "as package.module.attr",
        "app/app.yaml:10:11: handlers[2].script: '$PYTHON_LIB/google/appengine/ext/remote_api/handler.py': "
        "gae-emu provides only the SDK's deferred handler among $PYTHON_LIB scripts",
        "app/app.yaml:12:11: handlers[3].script: 'app' is not a WSGI application reference like package.module.app",
    ]


def test_python3_sends_any_script_to_the_entrypoint(app_dir, write):
    """App Engine accepts `script: main.app` (and the SDK's deferred script) under python3 and sends
    the handler to the entrypoint, as it does for `script: auto`."""
    from gae_emu.config.appyaml import load_app_yaml

    write("app.yaml", "runtime: python311\nentrypoint: gunicorn -b :$PORT other:wsgi\nhandlers:\n"
                      "- url: /a\n  script: main.app\n- url: /_ah/queue/deferred\n"
                      "  script: google.appengine.ext.deferred.deferred.application\n  login: admin\n")
    app = load_app_yaml(app_dir)
    assert [(h.url, str(h.script)) for h in app.handlers] == [
        ("/a", "other:wsgi"), ("/_ah/queue/deferred", "other:wsgi"), ("/.*", "other:wsgi")]


def test_script_that_cannot_be_imported(app_errors, write):
    write("broken.py", "import no_such_dependency_xyz\napp = None\n")
    write("noattr.py", "x = 1\n")
    write("syntax.py", "def f(:\n")
    problems = app_errors(HEAD + "handlers:\n- url: /a\n  script: broken.app\n- url: /b\n  script: noattr.app\n"
                                 "- url: /c\n  script: syntax.app\n- url: /d\n  script: missing.app\n")
    assert problems[:2] == [
        "app/app.yaml:6:11: handlers[0].script: cannot import 'broken': "
        "ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
        "app/app.yaml:8:11: handlers[1].script: module 'noattr' has no attribute 'app'",
    ]
    assert problems[2].startswith("app/app.yaml:10:11: handlers[2].script: cannot import 'syntax': SyntaxError: ")
    assert problems[3] == ("app/app.yaml:12:11: handlers[3].script: cannot import 'missing': "
                           "ModuleNotFoundError: No module named 'missing'")


def test_top_level_values(app_errors):
    problems = app_errors(HEAD + "service: Worker\nversion: ah-1\ninstance_class: F3\ninbound_services: [mail, fax]\n"
                                 "env_variables:\n  1BAD: x\nlibraries:\n- name: django\n")
    assert problems == [
        "app/app.yaml:4:10: service: 'Worker' is not a service name (lower-case letters, digits, '-')",
        "app/app.yaml:5:10: version: 'ah-1' may not start with 'ah-' or contain '-dot-'",
        "app/app.yaml:6:17: instance_class: 'F3' is not one of F1, F2, F4, F4_1G, B1, B2, B4, B4_1G, B8",
        "app/app.yaml:7:26: inbound_services[1]: 'fax' is not one of mail, mail_bounce, xmpp_message, "
        "xmpp_subscribe, xmpp_presence, xmpp_error, channel_presence, rest, warmup",
        "app/app.yaml:9:3: env_variables.1BAD: '1BAD' is not a valid environment variable name "
        "([a-zA-Z_][a-zA-Z0-9_]*)",
        "app/app.yaml:11:3: libraries[0]: missing required key 'version'",
    ]


def test_scaling_keys(app_errors):
    problems = app_errors(HEAD + "automatic_scaling:\n  max_instancez: 3\nmanual_scaling:\n  instances: 1\n")
    assert problems == [
        "app/app.yaml:5:3: automatic_scaling.max_instancez: unknown key; did you mean 'max_instances'?",
        "app/app.yaml:6:1: manual_scaling: only one of automatic_scaling, basic_scaling, manual_scaling "
        "may be set (also automatic_scaling)",
    ]


def test_service_and_module_both(app_errors):
    assert app_errors(HEAD + "service: a\nmodule: b\n") == [
        "app/app.yaml:5:1: module: set service or module (its old name), not both"]


def test_error_handler_file_must_exist(app_errors):
    assert app_errors(HEAD + "error_handlers:\n- file: oops.html\n  error_code: over_quota\n") == [
        f"app/app.yaml:5:9: error_handlers[0].file: file 'oops.html' does not exist (relative to "
        f"{(__import__('pathlib').Path('app').resolve())})"]


def test_builtins_errors(app_errors):
    problems = app_errors(HEAD + "builtins:\n- deferd: on\n- deferred: perhaps\n")
    assert problems == [
        "app/app.yaml:5:3: builtins[0].deferd: unknown key; did you mean 'deferred'?",
        "app/app.yaml:6:13: builtins[1].deferred: expected true or false, got a string ('perhaps')",
    ]


def test_duplicate_key(app_errors):
    problems = app_errors(HEAD + "handlers:\n- url: /a\n  url: /b\n  script: main.app\n")
    assert problems == ["app/app.yaml:6:3: handlers[0].url: duplicate key (it is already set above)"]


def test_yaml_syntax_error(app_errors):
    assert app_errors("runtime: python27\nhandlers: [\n") == [
        "app/app.yaml:3:1: YAML syntax error: expected the node content, but found '<stream end>'"]
    assert app_errors("runtime: python27\nhandlers:\n- url: /a\n  script: x: y\n") == [
        "app/app.yaml:4:12: YAML syntax error: mapping values are not allowed here"]


def test_empty_file(app_errors):
    assert app_errors("# nothing\n") == ["app/app.yaml: file is empty"]


def test_missing_app_yaml(app_dir):
    with pytest.raises(ConfigError) as info:
        load_app_yaml("app")
    assert info.value.problems == ["app/app.yaml: no such file"]
    with pytest.raises(ConfigError) as info:
        load_app_yaml("app/other.yaml")
    assert str(info.value) == "app/other.yaml: no such file"


def test_missing_include(app_errors):
    problems = app_errors(HEAD + "includes:\n- nowhere.yaml\n")
    assert problems[0].startswith("app/app.yaml:5:3: includes[0]: included file 'nowhere.yaml' does not exist")


def test_errors_in_an_included_file_name_that_file(app_errors, write):
    write("inc/include.yaml", "handlers:\n- url: /x\n  script: main.app\n  login: nobody\nruntime: python27\n")
    problems = app_errors(HEAD + "includes:\n- inc\nhandlers:\n- url: /y\n  script: main.app\n  login: who\n")
    assert problems == [
        "app/app.yaml:9:10: handlers[0].login: 'who' is not one of optional, required, admin",
        "app/inc/include.yaml:4:10: handlers[0].login: 'nobody' is not one of optional, required, admin",
        "app/inc/include.yaml:5:1: runtime: unknown key in an included file",
    ]


def test_url_must_start_with_a_slash(app_errors):
    assert app_errors(HEAD + "handlers:\n- url: foo\n  script: main.app\n") == [
        "app/app.yaml:5:8: handlers[0].url: 'foo' must start with / (it is matched against the request path)"]


def test_main_file_problems_come_before_included_ones(app_errors, write):
    write("inc.yaml", "handlers:\n- url: /x\n  script: main.app\n  login: nobody\n")
    problems = app_errors(HEAD + "includes:\n- inc.yaml\nhandlers:\n- url: /y\n  script: gone.app\n")
    assert [p.split(":")[0] for p in problems] == ["app/app.yaml", "app/inc.yaml"]
