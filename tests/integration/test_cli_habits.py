"""dev_appserver.py's option spellings on the real `gae-emu dev`: each one changes what its
gae-emu option changes, as the app sees it; options gae-emu lacks get one line, never a traceback."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gae_emu.testing import emulator

APP = Path(__file__).parent / "apps" / "habits"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "habits"
    shutil.copytree(APP, root)
    return root


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gae_emu", *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_dev_appserver_spellings_take_effect(app, tmp_path):
    storage = tmp_path / "store"
    port = free_port()
    args = ["-p", str(port), "--admin_port", "0", "--storage_path", str(storage), "--env_var", "HABIT=yes",
            "--enable_task_running=no", "--require_indexes", "--log_level", "debug", "--enable_host_checking",
            "--automatic_restart=no", "--skip_sdk_update_check"]
    with emulator(app, args=args) as emu:
        assert emu.url == f"http://127.0.0.1:{port}"
        assert f"gae-emu: storage in {storage}" in emu.output
        assert emu.client.get("/env?name=HABIT").json() == "yes"
        assert emu.client.get("/indexed-query").json() == "NeedIndexError"
        name = emu.client.get("/enqueue").json()
        time.sleep(1.0)  # a running dispatcher would have run it (and recorded an attempt) by now
        [task] = emu.tasks("default")
        assert (task["name"], task["retry_count"]) == (name, 0)
        assert emu.client.get("/put").status == 200
    with emulator(app, args=["--storage_path", str(storage), "--clear_datastore=no"]) as emu:
        assert emu.client.get("/count").json() == 1
        assert emu.client.get("/indexed-query").json() == 1  # no --require_indexes: served, index added
    with emulator(app, args=["--storage_path", str(storage), "--clear_datastore", "yes"]) as emu:
        assert emu.client.get("/count").json() == 0
        assert emu.tasks("default") == []


def test_a_note_for_a_harmless_dev_appserver_option(app, tmp_path):
    with emulator(app, args=["--skip_sdk_update_check=yes", "--max_module_instances=2"]) as emu:
        notes = [line for line in emu.output if line.startswith("gae-emu: note:")]
    assert len(notes) == 2 and "--skip_sdk_update_check" in notes[0] and "--max_module_instances" in notes[1]


@pytest.mark.parametrize("option, expected", [
    ("--datastore_path=/tmp/x.db", "--datastore_path is a dev_appserver.py option gae-emu does not have: the datastore is a file in the --storage-path folder"),
    ("--admin_host=0.0.0.0", "--admin_host=0.0.0.0: the admin console listens on --host"),
    ("--clear_datastore=maybe", "--clear_datastore=maybe: not a boolean; use yes, no, true, false, 1 or 0"),
    ("--php_executable_path=/usr/bin/php", "--php_executable_path is a dev_appserver.py option gae-emu does not have"),
])
def test_options_gae_emu_lacks_are_one_line_exit_2(app, tmp_path, option, expected):
    result = run_cli("dev", str(app), option, "--port", "0", "--admin-port", "0", "--storage-path", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.startswith("gae-emu: " + expected)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_help_mentions_the_spellings_and_short_port():
    result = run_cli("dev", "--help")
    assert "-p, --port" in result.stdout and "--clear_datastore[=yes|no]" in result.stdout
