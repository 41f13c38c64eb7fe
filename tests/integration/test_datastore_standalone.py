"""`gae-emu datastore`: only the Cloud Datastore API, as a drop-in for gcloud's emulator. The real
command in a subprocess; google-cloud-datastore through gRPC and REST; restarts keep the data."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from contextlib import contextmanager

import pytest

from gae_emu.testing import HttpClient, stop_process

pytest.importorskip("google.cloud.datastore")
PROJECT = "standalone-test"


@contextmanager
def standalone(storage, *args):
    command = [sys.executable, "-m", "gae_emu", "datastore", "--port", "0", "--storage-path", str(storage),
               "--project", PROJECT, *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        env = {}
        while "DATASTORE_EMULATOR_HOST" not in env or "DATASTORE_PROJECT_ID" not in env:
            line = process.stdout.readline()
            assert line, f"gae-emu datastore exited with {process.wait()}"
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                env[name] = value
            elif line.startswith("gae-emu: admin console at "):
                env["admin"] = line.rsplit(" ", 1)[1].strip()
        yield process, env
    finally:
        stop_process(process)
        process.stdout.close()


def env_init(storage):
    return subprocess.run([sys.executable, "-m", "gae_emu", "datastore", "env-init", "--storage-path", str(storage)],
                          capture_output=True, text=True, timeout=60)


def clients(env, monkeypatch):
    from google.cloud import datastore

    for name, value in env.items():
        if name.startswith("DATASTORE_"):
            monkeypatch.setenv(name, value)
    return datastore.Client(project=PROJECT), datastore.Client(project=PROJECT, _use_grpc=False)


def test_standalone_serves_both_forms_keeps_data_across_restarts(tmp_path, monkeypatch):
    from google.cloud import datastore

    storage = tmp_path / "store"
    with standalone(storage) as (process, env):
        printed = env_init(storage)
        assert printed.returncode == 0
        assert f"export DATASTORE_EMULATOR_HOST={env['DATASTORE_EMULATOR_HOST']}" in printed.stdout.splitlines()
        assert f"export DATASTORE_PROJECT_ID={PROJECT}" in printed.stdout.splitlines()
        with urllib.request.urlopen(f"http://{env['DATASTORE_EMULATOR_HOST']}/", timeout=10) as ready:
            assert ready.read() == b"Ok\n"
        grpc_client, rest_client = clients(env, monkeypatch)
        for i in range(20):
            entity = datastore.Entity(grpc_client.key("Kept", i + 1))
            entity["n"] = i
            (grpc_client if i % 2 else rest_client).put(entity)
    assert env_init(storage).returncode != 0  # stopped: nothing to point at
    with standalone(storage, "--admin-port", "0") as (process, env):
        grpc_client, rest_client = clients(env, monkeypatch)
        assert sorted(e["n"] for e in grpc_client.query(kind="Kept").fetch()) == list(range(20))
        assert len(list(rest_client.query(kind="Kept").fetch())) == 20
        admin = HttpClient(env["admin"])  # the admin console's viewer shares the storage
        assert admin.get("/api/datastore/entities?kind=Kept&limit=100").json()["total"] == 20
        page = admin.get("/datastore?kind=Kept")
        assert page.status == 200 and "Kept" in page.text
    with standalone(storage, "--clear-datastore") as (process, env):
        grpc_client, _ = clients(env, monkeypatch)
        assert list(grpc_client.query(kind="Kept").fetch()) == []


def test_a_second_server_on_the_same_storage_is_refused(tmp_path):
    storage = tmp_path / "store"
    with standalone(storage):
        second = subprocess.run([sys.executable, "-m", "gae_emu", "datastore", "--port", "0", "--storage-path",
                                 str(storage)], capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "Traceback" not in second.stderr
        assert "is in use by another process" in second.stderr
