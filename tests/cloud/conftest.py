"""A Cloud Datastore v1 server (gRPC) on a free loopback port over a fresh service, and
google-cloud-datastore clients pointed at it the way users point them: DATASTORE_EMULATOR_HOST."""
from __future__ import annotations

from typing import Iterator

import pytest

pytest.importorskip("google.cloud.datastore")

from gae_emu.cloud.datastore.server import DatastoreServer  # noqa: E402
from gae_emu.runtime.server import listen  # noqa: E402
from gae_emu.services.datastore import DatastoreService  # noqa: E402
from gae_emu.storage import Storage  # noqa: E402

PROJECT = "cloud-app"


@pytest.fixture
def service(tmp_path) -> Iterator[DatastoreService]:
    storage = Storage(tmp_path / "db.sqlite3")
    yield DatastoreService(storage)
    storage.close()


@pytest.fixture
def server(service: DatastoreService) -> Iterator[DatastoreServer]:
    srv = DatastoreServer(service, listen("127.0.0.1", 0, "test"))
    srv.start()
    yield srv
    srv.stop(0)


@pytest.fixture
def emulator_env(server: DatastoreServer, monkeypatch: pytest.MonkeyPatch) -> DatastoreServer:
    monkeypatch.setenv("DATASTORE_EMULATOR_HOST", server.address)
    monkeypatch.setenv("DATASTORE_PROJECT_ID", PROJECT)
    monkeypatch.setenv("DATASTORE_DATASET", PROJECT)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    return server


@pytest.fixture(params=["grpc", "rest"])
def client(request, emulator_env: DatastoreServer):
    """google-cloud-datastore over gRPC, and over its HTTP transport (the REST form, protobuf bodies)."""
    from google.cloud import datastore

    return datastore.Client(project=PROJECT, _use_grpc=request.param == "grpc")
