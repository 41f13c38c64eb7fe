"""Cloud NDB and google-cloud-datastore apps, unmodified, under the real `gae-emu dev` (issue 18):
no credentials, no gae-emu import; and a bundled-ndb service reading and writing the same entities."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gae_emu.testing import HttpClient, emulator

pytest.importorskip("google.cloud.ndb")
pytest.importorskip("google.appengine.ext.ndb")

APPS = Path(__file__).parent / "apps" / "cloudndb"


def post(client: HttpClient, path: str, data: dict):
    response = client.request("POST", path, json.dumps(data).encode(), headers={"Content-Type": "application/json"})
    assert response.status == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    with emulator(APPS / "cloud" / "app.yaml", APPS / "bundled" / "app.yaml",
                  storage_path=tmp_path_factory.mktemp("store")) as handle:
        yield handle


def test_cloud_ndb_models_queries_and_ids(emu):
    cloud = emu.client
    for author, n in (("ann", 1), ("bob", 2), ("cy", 3)):
        post(cloud, "/put", {"author": author, "n": n, "tags": ["x", author]})
    assert cloud.get("/query/all").json() == [3, 2, 1]
    assert cloud.get("/query/in").json() == [["ann", 1], ["cy", 3]]
    assert cloud.get("/query/ne").json() == [["ann", 1], ["cy", 3]]
    assert cloud.get("/query/or").json() == [["ann", 1], ["bob", 2]]
    allocated = cloud.get("/allocate").json()
    assert len(set(allocated["ids"] + [allocated["fresh"]])) == 4


def test_a_contended_transaction_is_retried(emu):
    result = post(emu.client, "/contended/c1", {})
    assert result == {"total": 101, "attempts": 2}


def test_both_apis_read_and_write_the_same_entities(emu):
    cloud, bundled = emu.client, HttpClient(emu.service_url("bundled"))
    post(cloud, "/put", {"id": "from-cloud", "author": "dee", "n": 4, "tags": ["a", "b"], "body": "long " * 100,
                         "packed": "zip " * 50})
    seen = bundled.get("/get/from-cloud").json()
    assert seen["author"] == "dee" and seen["tags"] == ["a", "b"] and seen["body"] == "long " * 100
    assert seen["packed"] == "zip " * 50  # compressed=True: Cloud NDB's meaning 22 is bundled ndb's ZLIB
    assert seen["app"] == "dev~cndb"
    post(bundled, "/put", {"id": "from-bundled", "author": "eve", "n": 5, "tags": ["c"], "body": "text",
                           "packed": "pack " * 40})
    back = cloud.get("/get/from-bundled").json()
    assert back == {"id": "from-bundled", "author": "eve", "n": 5, "tags": ["c"], "body": "text",
                    "packed": "pack " * 40}
    # The admin console's datastore viewer lists what either API wrote.
    listed = HttpClient(emu.admin_url).get("/api/datastore/entities?kind=Greeting&limit=100").json()
    names = {e["path"][-1][1] for e in listed["entities"]}
    assert {"from-cloud", "from-bundled"} <= names


def test_gae_emu_check_imports_a_cloud_ndb_app_without_credentials():
    """`ndb.Client()` at import time: the check gives the instance's variables too."""
    done = subprocess.run([sys.executable, "-m", "gae_emu", "check", str(APPS / "cloud" / "app.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "DefaultCredentialsError" not in done.stderr
