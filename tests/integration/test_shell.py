"""`gae-emu shell`: a Python prompt whose App Engine calls reach a running `gae-emu dev`, for Google's
library and for gae-emu's classic API, with the service's environment; and the door it uses, which
only the holder of the emulator's shell file gets through."""
from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gae_emu.config.appyaml import load_app_yaml
from gae_emu.emulator import default_storage_path
from gae_emu.testclient import HttpClient
from gae_emu.testing import emulator, wait_for

SAMPLE_APP = Path(__file__).resolve().parents[2] / "sample_app"

STD_MAIN = '''
import os
from google.appengine.api import memcache, wrap_wsgi_app
from google.appengine.ext import ndb


class Note(ndb.Model):
    text = ndb.StringProperty()


def wsgi(environ, start_response):
    note = Note.get_by_id("from-shell")
    body = "%s|%s" % (note.text if note else None, memcache.get("shell-key"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


app = wrap_wsgi_app(wsgi)
'''

STD_YAML = '''runtime: python312
app_engine_apis: true
env_variables:
  GREETING: from app.yaml
handlers:
- url: /_ah/queue/deferred
  script: auto
  login: admin
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run_shell(*args: str, stdin: str = None, cwd: Path = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gae_emu", "shell", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, cwd=cwd)


@pytest.fixture
def std_app(tmp_path):
    pytest.importorskip("google.appengine.api")
    write(tmp_path / "std" / "main.py", STD_MAIN)
    write(tmp_path / "std" / "worker" / "main.py", "def app(environ, start_response):\n    pass\n")
    write(tmp_path / "std" / "worker" / "app.yaml", "runtime: python312\nservice: worker\napp_engine_apis: true\n")
    return write(tmp_path / "std" / "app.yaml", STD_YAML)


def test_googles_library_in_the_shell_reaches_the_running_emulator(std_app):
    code = textwrap.dedent('''
        import os
        from google.appengine.api import memcache, taskqueue
        import main  # the service's own module, from its folder
        main.Note(id="from-shell", text="written at the prompt").put()
        assert memcache.set("shell-key", "cached at the prompt")
        task = taskqueue.add(url="/later", countdown=600)
        print("TASK", task.name, "ENV", os.environ["GREETING"], os.environ["GAE_SERVICE"])
    ''')
    with emulator(std_app, std_app.parent / "worker" / "app.yaml") as emu:
        result = run_shell(str(std_app), "--storage-path", str(emu.storage_path), "-c", code)
        assert result.returncode == 0, result.stderr
        assert emu.client.get("/").text == "written at the prompt|cached at the prompt"
        name = result.stdout.split("TASK ")[1].split()[0]
        assert "ENV from app.yaml default" in result.stdout
        (task,) = emu.tasks("default")
        assert task["name"] == name and task["url"] == "/later"
        assert "HTTP_HOST environment variable was not set" not in result.stderr


def test_the_shell_of_another_service_has_its_environment_and_target(std_app):
    code = "import os\nfrom google.appengine.api import taskqueue\nprint(os.environ['GAE_SERVICE'], taskqueue.add(url='/w', countdown=600).headers['Host'])"
    with emulator(std_app, std_app.parent / "worker" / "app.yaml", args=["--no-enable-task-running"]) as emu:
        result = run_shell(str(std_app), str(std_app.parent / "worker" / "app.yaml"), "--service", "worker",
                           "--storage-path", str(emu.storage_path), "-c", code)
        assert result.returncode == 0, result.stderr
        # as from the worker's instance: the task goes to the host of the service it was added from
        assert result.stdout.split() == ["worker", "localhost:" + emu.service_url("worker").rsplit(":", 1)[1].strip("/")]


def test_gae_emu_ext_in_the_shell_reaches_the_running_emulator(tmp_path):
    code = textwrap.dedent('''
        import main
        from gae_emu.ext import db, deferred
        main.MyModel(key_name="counter", total=5).put()

        def add_one():
            counter = main.MyModel.get_by_key_name("counter")
            counter.total += 1
            counter.put()

        db.run_in_transaction(add_one)
        print("TOTAL", main.MyModel.get_by_key_name("counter").total, main.MyModel.all().count())
        deferred.defer(main.do_something_later, main.counter_key(), 20)
    ''')
    with emulator(SAMPLE_APP / "app.yaml", storage_path=tmp_path / "s") as emu:
        result = run_shell(str(SAMPLE_APP / "app.yaml"), "--storage-path", str(emu.storage_path), "-c", code)
        assert result.returncode == 0, result.stderr
        assert "TOTAL 6 1" in result.stdout
        # the deferred call ran in the emulator, on the app's own function
        wait_for(lambda: "<strong id='total'>26</strong>" in emu.client.get("/").text, timeout=10, what="the deferred +20 applied")


def test_an_interactive_prompt_on_the_default_storage_folder(tmp_path):
    import shutil

    app = tmp_path / "app"
    shutil.copytree(SAMPLE_APP, app)  # a checkout of its own: its own default storage folder
    config = load_app_yaml(str(app / "app.yaml"))
    storage = default_storage_path(config.application, app)  # what `gae-emu dev app` uses without --storage-path
    try:
        with emulator(app / "app.yaml", storage_path=storage):
            result = run_shell(stdin="import main\nmain.MyModel(key_name='k', total=41).put().name()\n"
                                     "main.MyModel.get_by_key_name('k').total + 1\n", cwd=app)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    assert f"gae-emu shell: service default of {config.app_id}" in result.stderr  # the banner
    assert "'k'" in result.stdout and "42" in result.stdout


def test_no_running_emulator_is_one_line(tmp_path):
    result = run_shell(str(SAMPLE_APP / "app.yaml"), "--storage-path", str(tmp_path / "nothing"), "-c", "pass")
    assert result.returncode == 2
    assert result.stderr.startswith("gae-emu: no gae-emu dev is running on the storage folder")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_shell_file_is_private_and_gone_with_the_emulator(tmp_path):
    with emulator(SAMPLE_APP / "app.yaml", storage_path=tmp_path / "s") as emu:
        path = emu.storage_path / "shell.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(emu.storage_path.stat().st_mode) == 0o700
    assert not path.exists()
    result = run_shell(str(SAMPLE_APP / "app.yaml"), "--storage-path", str(tmp_path / "s"), "-c", "pass")
    assert result.returncode == 2 and "no gae-emu dev is running" in result.stderr


class _Planted:
    """Unpickling this creates a file: the shell door must never unpickle a body without the key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_the_shell_door_unpickles_nothing_without_its_key(tmp_path):
    planted = tmp_path / "planted"
    body = pickle.dumps(_Planted(str(planted)))
    with emulator(SAMPLE_APP / "app.yaml", storage_path=tmp_path / "s") as emu:
        key = json.loads((emu.storage_path / "shell.json").read_text())["key"]
        admin = HttpClient(emu.admin_url)
        assert admin.post("/_gae_emu/shell", body).status_code == 403
        assert admin.post("/_gae_emu/shell", body, headers={"X-Gae-Emu-Shell-Key": key[:-1] + "x"}).status_code == 403
        assert not planted.exists()
        # the app's own port does not have the door at all, key or not
        assert emu.client.post("/_gae_emu/shell", body, headers={"X-Gae-Emu-Shell-Key": key}).status_code in (403, 404)
        assert not planted.exists()
        # with the key, only the five services' public names answer
        private = pickle.dumps(("call", "datastore", "_lock", (), {}))
        answer = admin.post("/_gae_emu/shell", private, headers={"X-Gae-Emu-Shell-Key": key})
        kind, error = pickle.loads(answer.content)
        assert kind == "raise" and "public names" in str(error)
        storage = pickle.dumps(("call", "storage", "close", (), {}))
        kind, error = pickle.loads(admin.post("/_gae_emu/shell", storage, headers={"X-Gae-Emu-Shell-Key": key}).content)
        assert kind == "raise"
        assert emu.client.get("/").status_code == 200  # nothing was closed


def test_a_restarted_emulator_has_new_secrets(tmp_path):
    with emulator(SAMPLE_APP / "app.yaml", storage_path=tmp_path / "s") as emu:
        old = json.loads((emu.storage_path / "shell.json").read_text())
    with emulator(SAMPLE_APP / "app.yaml", storage_path=tmp_path / "s") as emu:
        new = json.loads((emu.storage_path / "shell.json").read_text())
        assert new["key"] != old["key"] and new["tickets"]["default"] != old["tickets"]["default"]
        hello = pickle.dumps(("hello",))
        admin = HttpClient(emu.admin_url)
        assert admin.post("/_gae_emu/shell", hello, headers={"X-Gae-Emu-Shell-Key": old["key"]}).status_code == 403
        answer = admin.post("/_gae_emu/shell", hello, headers={"X-Gae-Emu-Shell-Key": new["key"]})
        assert pickle.loads(answer.content)[1]["app_id"] == "dev~sample-app"


def test_the_prompt_runs_in_the_services_own_virtualenv(tmp_path):
    """A python3 service with a .venv: the prompt runs there, as its instance does, even though
    neither gae-emu nor Google's library is installed in it."""
    import venv

    root = tmp_path / "withvenv"
    venv.EnvBuilder(with_pip=False).create(root / ".venv")
    write(root / "main.py", "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n")
    app_yaml = write(root / "app.yaml", "runtime: python312\nenv_variables:\n  FROM_YAML: yes-it-is\n")
    code = "import os, sys; print(sys.prefix, os.environ['FROM_YAML'], os.environ['GAE_SERVICE'])"
    with emulator(app_yaml) as emu:
        assert emu.client.get("/").text == "ok"
        result = run_shell(str(app_yaml), "--storage-path", str(emu.storage_path), "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(root / ".venv"), "yes-it-is", "default"]
