"""The API server's transport (errors, tickets) and its taskqueue, memcache, modules, user and
app_identity handlers, through the wire format."""
from __future__ import annotations

import time
from typing import Any

import pytest

from gae_emu.apiserver.protos import pb
from gae_emu.runtime.tickets import LiveRequests

from .conftest import APP_ID, NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)


def tq() -> Any:
    return pb().taskqueue


def add_request(queue: str = "default", name: str = "", body: bytes = b"x", **fields: Any) -> Any:
    fields.setdefault("eta_usec", int(time.time() * 1e6))
    add = tq().TaskQueueAddRequest(queue_name=queue.encode(), task_name=name.encode(), url=b"/work", method=2,
                                   body=body, **fields)
    header = add.header.add()
    header.key, header.value = b"Host", b"localhost:8081"
    return add


def bulk(*adds: Any) -> Any:
    request = tq().TaskQueueBulkAddRequest()
    for add in adds:
        request.add_request.add().CopyFrom(add)
    return request


def results(rpc: Any, *adds: Any) -> Any:
    return rpc.ok("taskqueue", "BulkAdd", bulk(*adds), tq().TaskQueueBulkAddResponse).taskresult


# -- transport ----------------------------------------------------------------------------------------

def test_unknown_calls_tickets_and_bodies_are_rpc_errors(rpc, rpc_app):
    response = rpc.call("images", "Transform", pb().api_base.VoidProto())
    assert response.rpc_error.code == 1 and "images.Transform()" in response.rpc_error.detail
    response = rpc.call("taskqueue", "BulkAdd", bulk(add_request()), ticket="forged")
    assert response.rpc_error.code == 3 and "forged" in response.rpc_error.detail
    garbage = pb().remote_api.Response()
    garbage.ParseFromString(rpc_app.handle(b"\xff\xff not a protobuf"))
    assert garbage.rpc_error.code == 2


def test_the_http_endpoint_answers_200_with_a_response(rpc_app):
    from werkzeug.test import Client

    client = Client(rpc_app)
    outer = pb().remote_api.Request(service_name="nope", method="Nope", request_id="forged", request=b"")
    reply = client.post("/rpc_http", data=outer.SerializeToString(), content_type="application/octet-stream")
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/octet-stream"
    assert pb().remote_api.Response.FromString(reply.data).rpc_error.code == 3
    assert client.get("/rpc_http").status_code == 405 and client.post("/other").status_code == 404


def test_live_requests_accept_a_ticket_only_while_its_request_runs():
    live = LiveRequests()
    with live.live("t1", {"HTTP_HOST": "h"}):
        assert live.get("t1") == {"HTTP_HOST": "h"} and len(live) == 1
    assert live.get("t1") is None and len(live) == 0


# -- taskqueue ----------------------------------------------------------------------------------------

def test_bulk_add_results_names_and_error_codes(rpc, testbed):
    unnamed, named = results(rpc, add_request(), add_request(name="job-1"))
    assert unnamed.result == 0 and unnamed.chosen_task_name and not named.HasField("chosen_task_name")
    [again] = results(rpc, add_request(name="job-1"))
    assert again.result == 10  # TASK_ALREADY_EXISTS
    delete = tq().TaskQueueDeleteRequest(queue_name=b"default", task_name=[b"job-1", b"missing"])
    assert list(rpc.ok("taskqueue", "Delete", delete, tq().TaskQueueDeleteResponse).result) == [0, 14]
    [tombstoned] = results(rpc, add_request(name="job-1"))
    assert tombstoned.result == 11
    too_large, skipped = results(rpc, add_request(body=b"x" * 200_000), add_request())
    assert (too_large.result, skipped.result) == (4, 17)
    assert rpc.app_error("taskqueue", "BulkAdd", bulk(add_request(queue="nope"))).code == 1
    record = testbed.taskqueue.get_task("default", unnamed.chosen_task_name.decode())
    assert record.target == "worker" and record.payload == b"x" and record.url == "/work"


def test_transactional_adds_wait_for_the_commit_and_vanish_on_rollback(rpc, testbed):
    d = pb().datastore
    for commit in (True, False):
        txn = rpc.ok("datastore_v3", "BeginTransaction", d.BeginTransactionRequest(app=APP_ID), d.Transaction)
        add = add_request(queue="foo")
        add.transaction.CopyFrom(txn)
        [result] = results(rpc, add)
        name = result.chosen_task_name.decode()
        assert result.result == 0 and testbed.taskqueue.get_task("foo", name) is None
        rpc.call("datastore_v3", "Commit" if commit else "Rollback", txn)
        assert (testbed.taskqueue.get_task("foo", name) is not None) is commit
    bad = add_request(queue="foo")
    bad.transaction.handle, bad.transaction.app = 424242, APP_ID
    assert rpc.app_error("taskqueue", "BulkAdd", bulk(bad)).code == 10001  # DatastoreError(BadRequest)


def test_add_query_stats_and_purge(rpc):
    reply = rpc.ok("taskqueue", "Add", add_request(queue="foo", eta_usec=int((time.time() + 60) * 1e6)),
                   tq().TaskQueueAddResponse)
    assert reply.chosen_task_name
    listed = rpc.ok("taskqueue", "QueryTasks", tq().TaskQueueQueryTasksRequest(queue_name=b"foo", max_rows=10),
                    tq().TaskQueueQueryTasksResponse)
    assert [t.task_name for t in listed.task] == [reply.chosen_task_name] and listed.task[0].body == b"x"
    stats = rpc.ok("taskqueue", "FetchQueueStats",
                   tq().TaskQueueFetchQueueStatsRequest(queue_name=[b"foo", b"default"]),
                   tq().TaskQueueFetchQueueStatsResponse).queuestats
    assert [s.num_tasks for s in stats] == [1, 0] and stats[0].oldest_eta_usec > 0 and stats[1].oldest_eta_usec == -1
    rpc.ok("taskqueue", "PurgeQueue", tq().TaskQueuePurgeQueueRequest(queue_name=b"foo"), tq().TaskQueuePurgeQueueResponse)
    assert rpc.ok("taskqueue", "QueryTasks", tq().TaskQueueQueryTasksRequest(queue_name=b"foo", max_rows=10),
                  tq().TaskQueueQueryTasksResponse).task == []


def test_pull_queue_lease_and_modify(rpc):
    pull = tq().TaskQueueAddRequest(queue_name=b"pulled", task_name=b"p1", body=b"work", mode=1,
                                    eta_usec=int((time.time() - 1) * 1e6), tag=b"t")
    assert results(rpc, pull)[0].result == 0
    leased = rpc.ok("taskqueue", "QueryAndOwnTasks",
                    tq().TaskQueueQueryAndOwnTasksRequest(queue_name=b"pulled", lease_seconds=30, max_tasks=5),
                    tq().TaskQueueQueryAndOwnTasksResponse).task
    assert [(t.task_name, t.body, t.tag, t.retry_count) for t in leased] == [(b"p1", b"work", b"t", 1)]
    modify = tq().TaskQueueModifyTaskLeaseRequest(queue_name=b"pulled", task_name=b"p1",
                                                  eta_usec=leased[0].eta_usec, lease_seconds=60)
    updated = rpc.ok("taskqueue", "ModifyTaskLease", modify, tq().TaskQueueModifyTaskLeaseResponse)
    assert updated.updated_eta_usec > leased[0].eta_usec
    modify.eta_usec = 1
    assert rpc.app_error("taskqueue", "ModifyTaskLease", modify).code == 25  # TASK_LEASE_EXPIRED


# -- memcache -----------------------------------------------------------------------------------------

def test_memcache_set_get_cas_delete_increment_flush(rpc):
    m = pb().memcache

    def set_(key: bytes, value: bytes, policy: int = 1, cas_id: int = 0) -> int:
        request = m.MemcacheSetRequest()
        request.item.add(key=key, value=value, flags=3, set_policy=policy, expiration_time=0, cas_id=cas_id)
        return rpc.ok("memcache", "Set", request, m.MemcacheSetResponse).set_status[0]

    def get(key: bytes, for_cas: bool = False) -> Any:
        return rpc.ok("memcache", "Get", m.MemcacheGetRequest(key=[key], for_cas=for_cas), m.MemcacheGetResponse)

    assert set_(b"k", b"v1") == 1 and set_(b"k", b"v2", policy=2) == 2  # ADD of a present key: NOT_STORED
    item = get(b"k", for_cas=True).item[0]
    assert (item.value, item.flags) == (b"v1", 3) and item.cas_id
    assert set_(b"k", b"v3", policy=4, cas_id=item.cas_id) == 1
    assert set_(b"k", b"v4", policy=4, cas_id=item.cas_id) == 4  # stale CAS: EXISTS
    assert get(b"missing").get_status[0] == 2
    incr = m.MemcacheIncrementRequest(key=b"n", delta=5, initial_value=10)
    assert rpc.ok("memcache", "Increment", incr, m.MemcacheIncrementResponse).new_value == 15
    assert rpc.app_error("memcache", "Increment", m.MemcacheIncrementRequest(key=b"k", delta=1)).code == 6
    delete = m.MemcacheDeleteRequest()
    delete.item.add(key=b"k")
    assert rpc.ok("memcache", "Delete", delete, m.MemcacheDeleteResponse).delete_status[0] == 1
    rpc.ok("memcache", "FlushAll", m.MemcacheFlushRequest(), m.MemcacheFlushResponse)
    assert get(b"n").get_status[0] == 2


# -- modules, user, app_identity ----------------------------------------------------------------------

def test_modules_user_and_app_identity(rpc):
    mod = pb().modules
    assert rpc.ok("modules", "GetHostname", mod.GetHostnameRequest(module="worker"),
                  mod.GetHostnameResponse).hostname == "localhost:8081"
    assert rpc.ok("modules", "GetHostname", mod.GetHostnameRequest(), mod.GetHostnameResponse).hostname == "localhost:8080"
    assert rpc.app_error("modules", "GetHostname", mod.GetHostnameRequest(module="nope")).code == 1
    assert list(rpc.ok("modules", "GetModules", mod.GetModulesRequest(), mod.GetModulesResponse).module) == ["default", "worker"]
    u = pb().user
    login = rpc.ok("user", "CreateLoginURL", u.CreateLoginURLRequest(destination_url="/after"), u.CreateLoginURLResponse)
    assert login.login_url == "/_ah/login?continue=http%3A%2F%2Flocalhost%3A8080%2Fafter"
    logout = rpc.ok("user", "CreateLogoutURL", u.CreateLogoutURLRequest(destination_url="http://localhost:8080/x"),
                    u.CreateLogoutURLResponse)
    assert logout.logout_url == "/_ah/logout?continue=http%3A%2F%2Flocalhost%3A8080%2Fx"
    a = pb().app_identity
    assert rpc.ok("app_identity_service", "GetDefaultGcsBucketName", a.GetDefaultGcsBucketNameRequest(),
                  a.GetDefaultGcsBucketNameResponse).default_gcs_bucket_name == "rpc-test.appspot.com"
    assert rpc.ok("app_identity_service", "GetServiceAccountName", a.GetServiceAccountNameRequest(),
                  a.GetServiceAccountNameResponse).service_account_name == "rpc-test@appspot.gserviceaccount.com"


# -- mail -----------------------------------------------------------------------------------------------


def mail_message(**fields: Any) -> Any:
    base = dict(Sender="app@example.com", To=["a@example.com"], Subject="s", TextBody="t")
    base.update(fields)
    return pb().mail.MailMessage(**base)


def test_mail_send_and_send_to_admins_are_stored(rpc, testbed):
    message = mail_message(Cc=["c@example.com"], HtmlBody="<p>h</p>")
    message.Attachment.add(FileName="a.pdf", Data=b"%PDF")
    rpc.ok("mail", "Send", message, pb().api_base.VoidProto)
    rpc.ok("mail", "SendToAdmins", mail_message(To=[]), pb().api_base.VoidProto)
    first, second = testbed.services.mail.list()
    assert (first.message.cc, first.message.html, first.message.attachments[0].data) == (("c@example.com",), "<p>h</p>", b"%PDF")
    assert second.message.to_admins and not first.message.to_admins


def test_mail_refusals_are_application_errors_with_the_mail_codes(rpc, testbed):
    bad = mail_message()
    bad.Attachment.add(FileName="x.vbs", Data=b"")
    assert rpc.app_error("mail", "Send", bad).code == 4
    header = mail_message()
    header.Header.add(name="Received", value="x")
    assert rpc.app_error("mail", "Send", header).code == 5
    assert rpc.app_error("mail", "Send", mail_message(Sender="")).code == 2
    assert testbed.services.mail.list() == []
