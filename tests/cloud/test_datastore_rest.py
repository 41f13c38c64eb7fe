"""The REST form on the same port as gRPC: google-cloud-datastore's HTTP transport (protobuf
bodies), plain JSON as other languages' clients send it, and the emulator endpoints."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.cloud.conftest import PROJECT

google_exceptions = pytest.importorskip("google.api_core.exceptions")


def _post(server, path, body, content_type="application/json", host=None):
    request = urllib.request.Request(f"http://{server.address}{path}", data=body, method="POST",
                                     headers={"Content-Type": content_type, **({"Host": host} if host else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def http_client(emulator_env):
    from google.cloud import datastore

    return datastore.Client(project=PROJECT, _use_grpc=False)


def test_http_transport_does_what_grpc_does(http_client, client):
    from google.cloud import datastore

    entity = datastore.Entity(http_client.key("R"))
    entity.update({"n": 3, "tags": ["a", "b"]})
    http_client.put(entity)
    assert client.get(entity.key)["tags"] == ["a", "b"]  # read back through gRPC: one store
    q = http_client.query(kind="R")
    q.keys_only()
    assert [e.key for e in q.fetch()] == [entity.key]
    with http_client.transaction():
        got = http_client.get(entity.key)
        got["n"] = 4
        http_client.put(got)
    assert client.get(entity.key)["n"] == 4
    api = http_client._datastore_api
    from google.cloud.datastore_v1.types import entity as e

    bad = e.Key(partition_id=e.PartitionId(project_id=PROJECT), path=[e.Key.PathElement(kind="R")])
    with pytest.raises(google_exceptions.BadRequest, match=r"keys\[0\]"):
        api.lookup(request={"project_id": PROJECT, "keys": [bad]})


def test_json_bodies_and_json_errors(server, client):
    from google.cloud import datastore

    client.put(datastore.Entity(client.key("J", "x")))
    key = {"partitionId": {"projectId": PROJECT}, "path": [{"kind": "J", "name": "x"}]}
    status, body = _post(server, f"/v1/projects/{PROJECT}:lookup", json.dumps({"keys": [key]}).encode())
    assert status == 200
    found = json.loads(body)["found"]
    assert found[0]["entity"]["key"]["path"] == [{"kind": "J", "name": "x"}]
    status, body = _post(server, f"/v1/projects/{PROJECT}:lookup", b"{not json")
    assert status == 400 and json.loads(body)["error"]["status"] == "INVALID_ARGUMENT"
    status, body = _post(server, f"/v1/projects/{PROJECT}:frobnicate", b"{}")
    assert status == 501 and "frobnicate" in json.loads(body)["error"]["message"]


def test_ready_reset_and_host_check(server, client):
    from google.cloud import datastore

    with urllib.request.urlopen(f"http://{server.address}/", timeout=10) as response:
        assert response.read() == b"Ok\n"
    client.put(datastore.Entity(client.key("Gone", 1)))
    assert _post(server, "/reset", b"", host="evil.example")[0] == 400  # DNS rebinding is refused
    assert client.get(client.key("Gone", 1)) is not None
    assert _post(server, "/reset", b"")[0] == 200
    assert client.get(client.key("Gone", 1)) is None
