"""cron.yaml, dispatch.yaml and index.yaml: found as `gcloud app deploy` finds them, validated with
`file:line:col: key.path: message`, and printed by `gae-emu check` (run as users run it)."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gae_emu.config.appfiles import kind_of, load_extras, sort_arguments
from gae_emu.config.cronyaml import CronRetry, load_cron_yaml
from gae_emu.config.dispatchyaml import load_dispatch_yaml
from gae_emu.config.errors import ConfigError
from gae_emu.config.indexyaml import load_index_yaml

APP_YAML = "runtime: python312\nentrypoint: gunicorn main:app\n"
MAIN = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"

BAD_CRON = """\
cron:
- url: tasks/summary
  schedule: every 24 hours
- url: /a
  schedule: "every 5 minute"
- url: /b
  schedule: every day 9:00
  timezone: Mars/Olympus
- url: /c
  schedule: every 2 hours
  target: Worker_1
  retry_parameters:
    job_retry_limit: 6
    min_backoff_seconds: 10
    max_backoff_seconds: 5
    job_age_limit: forever
- url: /d
  schedual: every 1 minutes
- url: /e
  schedule: every tues 10:00
  attempt_deadline: 3m
"""
BAD_DISPATCH = """\
dispatch:
- url: "*/api/*"
  service: default
- url: "1.2.3.4/*"
  service: default
- url: "*/a*b"
  service: default
- url: "foo.*.com/*"
  service: default
- url: "*/x"
  module: default
  service: default
- url: "*/y"
- url: "no-path"
  service: default
"""
BAD_INDEX = """\
indexes:
- kind: Cat
  ancestor: maybe
  properties:
  - name: name
    direction: up
- properties:
  - name: age
- kind: Dog
- kind: Fox
  properties:
  - nme: x
"""
EXPECTED = [
    "app/cron.yaml:2:8: cron[0].url: 'tasks/summary' is not a path starting with '/'",
    "app/cron.yaml:5:25: cron[1].schedule: 'every 5 minute' is not a schedule App Engine accepts: "
    "write 'mins' or 'minutes' (column 12 of the schedule)",
    "app/cron.yaml:8:13: cron[2].timezone: 'Mars/Olympus' is not a known time zone (an IANA name such as "
    "'America/New_York')",
    "app/cron.yaml:11:11: cron[3].target: 'Worker_1' is not a target like 'worker' or 'v1.worker'",
    "app/cron.yaml:13:22: cron[3].retry_parameters.job_retry_limit: must be at most 5, got 6",
    "app/cron.yaml:15:26: cron[3].retry_parameters.max_backoff_seconds: must be at least min_backoff_seconds "
    "(10.0), got 5.0",
    "app/cron.yaml:16:20: cron[3].retry_parameters.job_age_limit: 'forever' is not a duration like '2d' or "
    "'1.5h' (a number and one of s, m, h, d)",
    "app/cron.yaml:17:3: cron[4]: missing required key 'schedule'",
    "app/cron.yaml:18:3: cron[4].schedual: unknown key in a cron job; did you mean 'schedule'?",
    "app/cron.yaml:20:22: cron[5].schedule: 'every tues 10:00' is not a schedule App Engine accepts: 'tues' is "
    "not 'tuesday' or 'tue' (column 10 of the schedule)",
    "app/cron.yaml:21:21: cron[5].attempt_deadline: '3m' is not a deadline like '180s' (seconds, then 's')",
    "app/dispatch.yaml:4:8: dispatch[1].url: the host may not be an IPv4 address ('1.2.3.4')",
    "app/dispatch.yaml:6:8: dispatch[2].url: '/a*b': a '*' may only end the path",
    "app/dispatch.yaml:8:8: dispatch[3].url: invalid host 'foo.*.com': lower-case labels of a-z, 0-9 and '-', "
    "or a leading '*'",
    "app/dispatch.yaml:11:3: dispatch[4].module: give 'service' or its old name 'module', not both",
    "app/dispatch.yaml:13:3: dispatch[5]: missing required key 'service'",
    "app/dispatch.yaml:14:8: dispatch[6].url: 'no-path' is not a url pattern 'host/path' (use '*/path' for any host)",
    "app/index.yaml:3:13: indexes[0].ancestor: expected true or false, got a string ('maybe')",
    "app/index.yaml:6:16: indexes[0].properties[0].direction: 'up' is not one of asc, ascending, desc, descending",
    "app/index.yaml:7:3: indexes[1]: missing required key 'kind'",
    "app/index.yaml:9:3: indexes[2]: an index needs properties or 'ancestor: yes'",
    "app/index.yaml:12:5: indexes[3].properties[0].nme: unknown key in an index property; did you mean 'name'?",
    "app/index.yaml:12:5: indexes[3].properties[0]: missing required key 'name'",
]


def gae_emu(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gae_emu", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "app.yaml").write_text(APP_YAML)
    (root / "main.py").write_text(MAIN)
    return root


def test_check_names_every_mistake_of_the_three_files(app):
    (app / "cron.yaml").write_text(BAD_CRON)
    (app / "dispatch.yaml").write_text(BAD_DISPATCH)
    (app / "index.yaml").write_text(BAD_INDEX)
    result = gae_emu(app.parent, "check", "app")
    assert result.returncode == 2
    lines = result.stderr.strip().removeprefix("gae-emu: ").splitlines()
    assert lines == EXPECTED
    assert len({re.match(r"\S+:\d+:\d+", line).group() for line in lines}) >= 15
    assert "Traceback" not in result.stderr


def test_check_prints_what_the_files_configure(app):
    (app / "cron.yaml").write_text(textwrap.dedent("""\
        cron:
        - description: weekly report
          url: /tasks/weekly
          schedule: every monday 09:00
          timezone: America/New_York
        """))
    (app / "dispatch.yaml").write_text('dispatch:\n- url: "*/api/*"\n  service: default\n')
    (app / "index.yaml").write_text("indexes:\n- kind: Cat\n  properties:\n  - name: name\n  - name: age\n"
                                    "    direction: desc\n\n# AUTOGENERATED\n")
    (app / "queue.yaml").write_text("queue:\n- name: mail\n  rate: 1/s\n")
    result = gae_emu(app.parent, "check", "app")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "app/queue.yaml: 2 queue(s)" in out and "mail: push, rate 1/s" in out
    assert "app/cron.yaml: 1 cron job(s)" in out
    runs = re.search(r"next runs: (.*)", out).group(1).split(", ")
    assert len(runs) == 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT09:00:00-0[45]:00", run) for run in runs), runs
    assert "*/api/* -> default  (app/dispatch.yaml:2)" in out
    assert "Cat: name asc, age desc" in out


def test_files_are_taken_by_base_name_from_anywhere(app, tmp_path):
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    (elsewhere / "dispatch.yaml").write_text('dispatch:\n- url: "*/api/*"\n  service: default\n')
    (elsewhere / "cron.yaml").write_text("cron:\n- url: /x\n  schedule: every 5 minutes\n")
    result = gae_emu(tmp_path, "check", "app/app.yaml", "conf/dispatch.yaml", "conf/cron.yaml")
    assert result.returncode == 0, result.stderr
    assert "conf/dispatch.yaml: 1 dispatch rule(s)" in result.stdout
    assert "conf/cron.yaml: 1 cron job(s)" in result.stdout


def test_a_rule_for_a_service_not_served_is_an_error_at_its_line(app):
    (app / "dispatch.yaml").write_text('dispatch:\n- url: "*/api/*"\n  service: api\n')
    result = gae_emu(app.parent, "check", "app")
    assert result.returncode == 2
    assert "app/dispatch.yaml:3:12: dispatch[0].service: service 'api' is not served (served: default)" in result.stderr


def test_sorting_the_command_line():
    files = sort_arguments(["app", "worker/worker.yaml", "conf/cron.yaml", "dispatch.yaml", "x/queue.yml", "index.yaml"])
    assert files.apps == ["app", "worker/worker.yaml"]
    assert sorted(files.named) == ["cron", "dispatch", "index", "queue"]
    assert kind_of("a/app.yaml") is None
    with pytest.raises(ConfigError, match="a second cron file; a/cron.yaml is already given"):
        sort_arguments(["a/cron.yaml", "b/cron.yaml"])


def test_files_beside_the_default_app_yaml_are_found(app):
    (app / "cron.yaml").write_text("cron:\n- url: /x\n  schedule: every 5 minutes\n")
    files = sort_arguments([str(app)]).resolve(app, "app")
    assert files["cron"].display == "app/cron.yaml" and files["dispatch"] is None
    extras = load_extras(files, ["default"])
    assert [job.url for job in extras.cron.jobs] == ["/x"]


def test_cron_keys_are_read(tmp_path):
    path = tmp_path / "cron.yaml"
    path.write_text(textwrap.dedent("""\
        application: demo
        cron:
        - description: nightly
          url: /tasks/nightly?x=1
          schedule: every day 02:00
          timezone: Europe/London
          target: worker
          attempt_deadline: 90s
          retry_parameters:
            job_retry_limit: 3
            job_age_limit: 1h
            min_backoff_seconds: 2.5
            max_backoff_seconds: 60
            max_doublings: 2
        """))
    job = load_cron_yaml(path).jobs[0]
    assert (job.url, job.schedule, job.description, job.target, job.timezone) == (
        "/tasks/nightly?x=1", "every day 02:00", "nightly", "worker", "Europe/London")
    assert job.attempt_deadline == 90.0
    assert job.retry == CronRetry(job_retry_limit=3, job_age_limit=3600.0, min_backoff_seconds=2.5,
                                  max_backoff_seconds=60.0, max_doublings=2)


def test_at_most_250_jobs_and_20_rules(tmp_path):
    cron = tmp_path / "cron.yaml"
    cron.write_text("cron:\n" + "".join(f"- url: /j{i}\n  schedule: every 5 minutes\n" for i in range(251)))
    with pytest.raises(ConfigError, match=r"cron.yaml:502:3: cron\[250\]: 251 cron jobs; App Engine allows at most 250"):
        load_cron_yaml(cron)
    dispatch = tmp_path / "dispatch.yaml"
    dispatch.write_text("dispatch:\n" + "".join(f'- url: "*/p{i}"\n  service: default\n' for i in range(21)))
    with pytest.raises(ConfigError, match=r"dispatch.yaml:42:3: dispatch\[20\]: 21 dispatch rules"):
        load_dispatch_yaml(dispatch)


def test_dispatch_patterns_match_as_production(tmp_path):
    path = tmp_path / "dispatch.yaml"
    path.write_text(textwrap.dedent("""\
        dispatch:
        - url: "*/favicon.ico"
          service: default
        - url: "simple-sample.appspot.com/"
          service: default
        - url: "*.localhost/mobile/*"
          service: mobile
        - url: "*/api/*"
          service: api
        """))
    rules = load_dispatch_yaml(path).rules
    assert rules[0].matches("anything", "/favicon.ico") and not rules[0].matches("a", "/favicon.icon")
    assert rules[1].matches("simple-sample.appspot.com", "/") and not rules[1].matches("x.simple-sample.appspot.com", "/")
    assert rules[2].matches("m.localhost", "/mobile/x") and not rules[2].matches("localhost", "/mobile/x")
    assert rules[3].matches("localhost", "/api/") and not rules[3].matches("localhost", "/api")


def test_index_yaml_keeps_the_autogenerated_line(tmp_path):
    path = tmp_path / "index.yaml"
    path.write_text("indexes:\n- kind: Cat\n  ancestor: yes\n  properties:\n  - name: age\n"
                    "    direction: descending\n\n# AUTOGENERATED\n")
    config = load_index_yaml(path)
    assert config.autogenerated_line == 8
    assert config.indexes[0].properties == (("age", "desc"),) and config.indexes[0].ancestor
    path.write_text("# AUTOGENERATED\n")
    assert load_index_yaml(path).indexes == () and load_index_yaml(path).autogenerated_line == 1
