"""Where `gae-emu dev` keeps data by default, and how a start-up failure ends it, with and without
--reload (the default)."""
from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gae_emu.testing import emulator, stop_process
from gae_emu import testing

APP = Path(__file__).parent / "apps" / "habits"


def start(app: Path, tmpdir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gae_emu", "dev", str(app), "--port", "0", "--admin-port", "0",
                             "--tasks-port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"})


def test_two_checkouts_of_one_app_keep_their_own_default_storage(tmp_path):
    """Same app id, two folders: each gets its folder (app id, user, short hash of its path), both run."""
    first, second = tmp_path / "one" / "habits", tmp_path / "two" / "habits"
    shutil.copytree(APP, first)
    shutil.copytree(APP, second)
    a = start(first, tmp_path, "--no-reload")
    b = start(second, tmp_path, "--no-reload")
    try:
        handles = [testing._wait_for_banner(p, Path()) for p in (a, b)]
        paths = [next(line.split(" in ", 1)[1] for line in h.output if line.startswith("gae-emu: storage in")) for h in handles]
        assert paths[0] != paths[1]
        for path in paths:
            assert re.fullmatch(re.escape(f"{tmp_path}/gae-emu.habits.{getpass.getuser()}.") + "[0-9a-f]{8}", path)
        handles[0].client.get("/put")
        assert handles[0].client.get("/count").json() == 1 and handles[1].client.get("/count").json() == 0
    finally:
        stop_process(a)
        stop_process(b)
    again = start(first, tmp_path, "--no-reload")  # the same folder finds its data again
    try:
        assert testing._wait_for_banner(again, Path()).client.get("/count").json() == 1
    finally:
        stop_process(again)


def test_storage_in_use_exits_2_under_reload_too(tmp_path):
    app = tmp_path / "habits"
    shutil.copytree(APP, app)
    storage = tmp_path / "s"
    with emulator(app, storage_path=storage):
        began = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "gae_emu", "dev", str(app), "--reload", "--port", "0",
                                 "--admin-port", "0", "--tasks-port", "0", "--storage-path", str(storage)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "in use by another process" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - began < 30


def test_ctrl_c_under_reload_ends_quietly(tmp_path):
    """Ctrl-C signals the terminal's whole process group: the supervisor and the server it runs.
    The server's exit is then no error to report."""
    import signal

    app = tmp_path / "habits"
    shutil.copytree(APP, app)
    for _ in range(3):  # it was a race: try it a few times
        process = subprocess.Popen([sys.executable, "-m", "gae_emu", "dev", str(app), "--reload", "--port", "0",
                                    "--admin-port", "0", "--tasks-port", "0", "--storage-path", str(tmp_path / "s")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            handle = testing._wait_for_banner(process, tmp_path / "s")
            assert handle.client.get("/count").status_code == 200
            os.killpg(process.pid, signal.SIGINT)
            assert process.wait(30) == 0
        finally:
            stop_process(process)
        time.sleep(0.2)  # the output pump's last lines
        assert not any("exited with code" in line for line in handle.output), handle.output[-5:]
