"""A full disk while serving, for real: the emulator runs in its own mount namespace with its storage
on a 4 MB tmpfs, which the test fills. Task adds then fail with TransientError (the app answers 503),
tasks that come due keep running with their outcomes held until space returns, nothing acknowledged
is lost, and everything completes once the filler is removed. Needs root (mount namespaces)."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gae_emu.testing import HttpClient, _wait_for_banner, stop_process

import shutil

APP = Path(__file__).resolve().parent / "apps" / "fulldisk"

def _can_mount() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "none", "/mnt"],
                           capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _can_mount(), reason="needs mount namespaces (unshare -m) for a small tmpfs")


def _fill(path: Path) -> None:
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_full_disk_is_transient_and_nothing_acknowledged_is_lost(tmp_path):
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = f'mount -t tmpfs -o size=4m none "{mount}" && exec "$@"'
    command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
               sys.executable, "-m", "gae_emu", "dev", str(APP), "--no-reload", "--host", "127.0.0.1", "--port", "0",
               "--admin-port", "0", "--storage-path", str(mount / "storage")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        handle = _wait_for_banner(process, mount / "storage")
        client, admin = HttpClient(handle.url), HttpClient(handle.admin_url)
        inside = Path(f"/proc/{process.pid}/root") / str(mount).lstrip("/")  # the tmpfs as the emulator sees it
        assert client.get("/add?n=40&countdown=3").text == "40"  # due while the disk is full
        _fill(inside / "filler")
        refused = client.get("/add?n=20")
        assert (refused.status, refused.text) == (503, "TransientError")
        time.sleep(4)  # the 40 tasks come due and run; their outcomes cannot be written yet
        os.remove(inside / "filler")
        assert client.get("/add?n=20").text == "20"
        handle.wait_until_idle(30)
        assert handle.tasks("default") == []
        tombstones = admin.get("/api/queues/default/tombstones").json()["tombstones"]
        assert len(tombstones) == 60, len(tombstones)  # 40 + 20 acknowledged, each run and acknowledged
        log = "\n".join(handle.output)
        assert "Traceback" not in log, log[-3000:]
        assert log.count("Task dispatcher paused") <= 1, log[-3000:]
    finally:
        stop_process(process)
