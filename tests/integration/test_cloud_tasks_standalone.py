"""`gae-emu tasks`: the Cloud Tasks API on its own, for apps that are not on App Engine: HTTP
targets, App Engine targets sent to --app-url, queues from --queue-yaml (issue 19)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

grpc = pytest.importorskip("grpc")
tasks_v2 = pytest.importorskip("google.cloud.tasks_v2")
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport  # noqa: E402

from gae_emu.testing import RecordingServer, stop_process, wait_for  # noqa: E402

PARENT = "projects/standalone/locations/europe-west1"


@contextmanager
def tasks_server(tmp_path: Path, *args: str) -> Iterator[Dict[str, str]]:
    command = [sys.executable, "-m", "gae_emu", "tasks", "--port", "0", "--storage-path", str(tmp_path / "storage"),
               "--project", "standalone", "--tasks-location", "europe-west1", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    env: Dict[str, str] = {}
    lines: List[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                env[name] = value
                if name == "CLOUD_TASKS_EMULATOR_CERTS_URL":
                    ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(30) and env, "".join(lines)
        yield env
    finally:
        stop_process(process)


def test_standalone_serves_queue_yaml_http_and_app_engine_targets(tmp_path):
    (tmp_path / "queue.yaml").write_text("queue:\n- name: mail\n  rate: 10/s\n")
    queue_yaml = str(tmp_path / "queue.yaml")
    with RecordingServer() as recorder, tasks_server(tmp_path, "--queue-yaml", queue_yaml, "--app-url", recorder.url) as env:
        channel = grpc.insecure_channel(env["CLOUD_TASKS_EMULATOR_HOST"])
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        assert {q.name for q in client.list_queues(parent=PARENT)} == {f"{PARENT}/queues/default", f"{PARENT}/queues/mail"}
        client.create_task(parent=f"{PARENT}/queues/mail", task={"http_request": {"url": f"{recorder.url}/http"}})
        client.create_task(parent=f"{PARENT}/queues/mail", task={
            "app_engine_http_request": {"relative_uri": "/ae?x=1", "body": b"hi"}})
        [http] = wait_for(lambda: recorder.seen("/http"), what="the HTTP target")
        [ae] = wait_for(lambda: recorder.seen("/ae"), what="the App Engine target")
        assert http["headers"]["x-cloudtasks-queuename"] == "mail" and http["headers"]["user-agent"] == "Google-Cloud-Tasks"
        h = ae["headers"]
        assert ae["path"] == "/ae?x=1" and ae["body"] == b"hi" and h["x-appengine-queuename"] == "mail"
        assert h["x-appengine-taskretrycount"] == "0" and h["content-type"] == "application/octet-stream"
        assert h["user-agent"] == "AppEngine-Google; (+http://code.google.com/appengine)"


def test_standalone_reports_a_bad_queue_yaml_with_its_place(tmp_path):
    (tmp_path / "queue.yaml").write_text("queue:\n- name: bad name!\n")
    result = subprocess.run([sys.executable, "-m", "gae_emu", "tasks", "--port", "0", "--storage-path",
                             str(tmp_path / "s"), "--queue-yaml", str(tmp_path / "queue.yaml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "queue.yaml:2:" in result.stderr and "Traceback" not in result.stderr
