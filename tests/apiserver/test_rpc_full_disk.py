"""A full disk while serving: task adds answer TRANSIENT_ERROR and datastore puts TIMEOUT (the
client libraries' retryable errors), nothing acknowledged before is lost, and both work again once
there is space. The disk fills through SQLite's own limit (`max_page_count`), which raises the same
SQLITE_FULL a full file system does."""
from __future__ import annotations

import time

import pytest

from gae_emu.apiserver.protos import library_available, pb
from gae_emu.services.datastore import ErrorCode

from .conftest import APP_ID, NO_LIBRARY

pytestmark = pytest.mark.skipif(not library_available(), reason=NO_LIBRARY)
TRANSIENT_ERROR = 2  # TaskQueueServiceError.ErrorCode


def _add(rpc, name: str, body: bytes = b"x"):
    request = pb().taskqueue.TaskQueueBulkAddRequest()
    add = request.add_request.add(queue_name=b"default", task_name=name.encode(), url=b"/work", method=2, body=body,
                                  eta_usec=int(time.time() * 1e6))
    add.header.add(key=b"Host", value=b"localhost:8080")
    return rpc.call("taskqueue", "BulkAdd", request)


def _put(rpc, name: str, size: int = 10):
    entity = pb().entity.EntityProto()
    entity.key.app = APP_ID
    entity.key.path.element.add(type="Doc", name=name)
    entity.entity_group.SetInParent()
    prop = entity.raw_property.add(name="blob", multiple=False, meaning=14)
    prop.value.stringValue = b"b" * size
    return rpc.call("datastore_v3", "Put", pb().datastore.PutRequest(entity=[entity]))


def _bulk_error(response) -> int:
    reply = pb().taskqueue.TaskQueueBulkAddResponse()
    reply.ParseFromString(response.response)
    return reply.taskresult[0].result


def test_full_disk_is_transient_and_nothing_acknowledged_is_lost(rpc, testbed):
    assert not _add(rpc, "before").HasField("application_error")
    assert not _put(rpc, "before").HasField("application_error")
    conn = testbed.services.storage.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + 1}")

    response = _add(rpc, "during", body=b"t" * 50_000)
    code = response.application_error.code if response.HasField("application_error") else _bulk_error(response)
    assert code == TRANSIENT_ERROR, response
    put = _put(rpc, "during", size=200_000)
    assert put.application_error.code == ErrorCode.TIMEOUT, put

    conn.execute("PRAGMA max_page_count=1073741823")  # space returns
    assert not _add(rpc, "after", body=b"t" * 50_000).HasField("application_error")
    assert not _put(rpc, "after", size=200_000).HasField("application_error")
    with testbed.services.storage.read() as c:
        stored = {r[0] for r in c.execute("SELECT name FROM tq_tasks WHERE queue = 'default'")}
    assert {"before", "after"} <= stored and "during" not in stored, stored
    get = pb().datastore.GetRequest()
    for name in ("before", "during", "after"):
        key = get.key.add(app=APP_ID)
        key.path.element.add(type="Doc", name=name)
    reply = pb().datastore.GetResponse()
    reply.ParseFromString(rpc.call("datastore_v3", "Get", get).response)
    assert [e.HasField("entity") for e in reply.entity] == [True, False, True]
