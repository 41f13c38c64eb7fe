"""The command an instance runs: App Engine's entrypoint, on loopback, in the app's interpreter."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gae_emu.runtime import entrypoint as ep
from gae_emu.runtime.entrypoint import EntrypointError, build_command, interpreter_for
from gae_emu.runtime.instances import import_error_summary


@pytest.fixture
def with_modules(monkeypatch):
    installed = {"gunicorn", "uvicorn"}
    monkeypatch.setattr(ep, "has_module", lambda interpreter, module: module in installed)
    return installed


@pytest.mark.parametrize("entrypoint, expected", [
    (None, ["-m", "gunicorn", "-b", "127.0.0.1:9000", "main:app"]),
    ("gunicorn -b :$PORT main:app", ["-m", "gunicorn", "-b", "127.0.0.1:9000", "main:app"]),
    ("gunicorn --bind=0.0.0.0:${PORT} -w 2 app:wsgi", ["-m", "gunicorn", "--bind=127.0.0.1:9000", "-w", "2", "app:wsgi"]),
    ("gunicorn -b[::]:$PORT main:app", ["-m", "gunicorn", "-b127.0.0.1:9000", "main:app"]),
    ("gunicorn -c gunicorn.conf.py main:app", ["-m", "gunicorn", "-b", "127.0.0.1:9000", "-c", "gunicorn.conf.py", "main:app"]),
    ("gunicorn -b localhost:$PORT main:app", ["-m", "gunicorn", "-b", "localhost:9000", "main:app"]),
    ("uvicorn main:app --host 0.0.0.0 --port $PORT", ["-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", "9000"]),
    ("uvicorn main:app", ["-m", "uvicorn", "main:app", "--port", "9000"]),
    ("python main.py", ["main.py"]),
])
def test_binds_point_at_loopback(with_modules, entrypoint, expected):
    command = build_command(entrypoint, "/venv/bin/python", 9000)
    assert command.argv == ("/venv/bin/python", *expected)


def test_environment_assignments_before_the_program(with_modules):
    command = build_command("DEBUG=1 gunicorn -b :$PORT main:app", "/py", 9000)
    assert command.env == {"DEBUG": "1"} and command.argv[:3] == ("/py", "-m", "gunicorn")


def test_no_gunicorn_falls_back_to_the_instance_server(with_modules):
    with_modules.discard("gunicorn")
    command = build_command(None, "/py", 9000)
    assert command.argv == ("/py", str(ep.INSTANCE_SERVER), "--port", "9000", "main:app")
    assert "gunicorn is not installed" in command.notes[0]


def test_missing_programs_are_one_line_errors(with_modules):
    with_modules.clear()
    with pytest.raises(EntrypointError, match="uvicorn is not installed"):
        build_command("uvicorn main:app", "/py", 9000)
    with pytest.raises(EntrypointError, match="program 'no-such-prog-xyz' is not installed"):
        build_command("no-such-prog-xyz --port $PORT", "/py", 9000)
    with pytest.raises(EntrypointError, match="cannot split"):
        build_command("gunicorn 'main:app", "/py", 9000)


def test_unknown_programs_and_shell_commands_warn_about_the_bind(with_modules):
    assert "cannot check" in build_command("python main.py", sys.executable, 9000).notes[0]
    shell = build_command("cd src && gunicorn -b :$PORT main:app", "/py", 9000)
    assert shell.argv == ("/bin/sh", "-c", "cd src && gunicorn -b :9000 main:app") and "shell" in shell.notes[0]


def test_interpreter_prefers_the_option_then_the_app_venv(tmp_path: Path):
    assert interpreter_for(tmp_path) == sys.executable
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert interpreter_for(tmp_path) == str(python)
    assert interpreter_for(tmp_path, "/opt/py") == "/opt/py"


def test_import_error_summary_names_the_last_frame():
    lines = ["Traceback (most recent call last):", '  File "/app/main.py", line 3, in <module>',
             "    import helper", '  File "/app/helper.py", line 7, in <module>', "    boom()",
             "NameError: name 'boom' is not defined"]
    assert import_error_summary(lines) == "/app/helper.py:7: NameError: name 'boom' is not defined"
    assert import_error_summary(["just a line"]) == "just a line"
    assert import_error_summary([]) == ""


def test_import_error_summary_reads_a_traceback_whose_header_was_cut_off():
    """gunicorn's worker traceback is longer than the lines kept; its master logs after it."""
    lines = ['  File "/venv/gunicorn/util.py", line 420, in import_app', "    mod = importlib.import_module(module)",
             '  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed',
             '  File "/app/main.py", line 1', "    def app(environ, start_response:", "           ^",
             "SyntaxError: '(' was never closed", "[2026-12-02 03:09:43 +0000] [25608] [ERROR] Reason: Worker failed to boot."]
    assert import_error_summary(lines) == "/app/main.py:1: SyntaxError: '(' was never closed"

