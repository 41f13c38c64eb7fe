"""datastore_v3 through the API server's wire format: byte-exact round trips, ids, transactions,
conflicts, queries (count, batches) and sharing entities with the in-process service."""
from __future__ import annotations

import datetime
from typing import Any

import pytest

from gae_emu.apiserver.entities import key_to_pb, property_to_pb
from gae_emu.apiserver.protos import pb
from gae_emu.services.datastore import Entity, Key

from .conftest import APP_ID, NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)


@pytest.fixture
def ndb_entity(monkeypatch: Any) -> Any:
    """An EntityProto as ndb writes it (root path as entity group), with each property type ndb has
except GeoPt and User."""
    monkeypatch.setenv("APPLICATION_ID", APP_ID)
    from google.appengine.ext import ndb

    class Everything(ndb.Model):
        s = ndb.StringProperty()
        t = ndb.TextProperty()
        b = ndb.BlobProperty()
        bi = ndb.BlobProperty(indexed=True)
        z = ndb.BlobProperty(compressed=True)
        i = ndb.IntegerProperty(repeated=True)
        f = ndb.FloatProperty()
        d = ndb.DateTimeProperty()
        k = ndb.KeyProperty()
        n = ndb.StringProperty()
        bo = ndb.BooleanProperty()
        j = ndb.JsonProperty()
        u = ndb.StringProperty(indexed=False)

    entity = Everything(key=ndb.Key("Parent", "p", "Everything", 5, namespace="ns"), s="héllo", t="long " * 50,
                        b=b"\x00\xff", bi=b"ab", z=b"zz" * 300, i=[3, 1, 2], f=-0.0, bo=True, j={"a": [1]},
                        d=datetime.datetime(2020, 1, 2, 3, 4, 5, 6), k=ndb.Key("Other", 7), n=None, u="x")
    message = entity._to_pb()
    assert [(e.type, e.name) for e in message.entity_group.element] == [("Parent", "p")]
    return message


def put_request(*entities: Any, txn: Any = None) -> Any:
    request = pb().datastore.PutRequest()
    for entity in entities:
        request.entity.add().CopyFrom(entity)
    if txn is not None:
        request.transaction.CopyFrom(txn)
    return request


def get(rpc: Any, *keys: Any, txn: Any = None) -> Any:
    request = pb().datastore.GetRequest()
    for key in keys:
        request.key.add().CopyFrom(key)
    if txn is not None:
        request.transaction.CopyFrom(txn)
    return rpc.ok("datastore_v3", "Get", request, pb().datastore.GetResponse)


def begin(rpc: Any) -> Any:
    request = pb().datastore.BeginTransactionRequest(app=APP_ID)
    return rpc.ok("datastore_v3", "BeginTransaction", request, pb().datastore.Transaction)


def simple_entity(kind: str, id_or_name: Any = None, **values: Any) -> Any:
    message = pb().entity.EntityProto()
    key_to_pb(Key.build(APP_ID, "", [(kind, id_or_name)]), message.key)
    message.entity_group.SetInParent()  # db sends it empty; the server fills it
    for name, value in values.items():
        property_to_pb(message.property.add(), name, value)
    return message


def test_ndb_entity_round_trips_byte_exact(rpc, ndb_entity):
    reply = rpc.ok("datastore_v3", "Put", put_request(ndb_entity), pb().datastore.PutResponse)
    assert reply.key[0].SerializeToString() == ndb_entity.key.SerializeToString()
    got = get(rpc, ndb_entity.key)
    assert got.in_order
    assert str(got.entity[0].entity) == str(ndb_entity)
    assert got.entity[0].entity.SerializeToString() == ndb_entity.SerializeToString()


def test_wire_entity_is_typed_for_the_service_and_back(rpc, testbed, ndb_entity):
    rpc.ok("datastore_v3", "Put", put_request(ndb_entity), pb().datastore.PutResponse)
    key = Key.build(APP_ID, "ns", [("Parent", "p"), ("Everything", 5)])
    [stored] = testbed.datastore.get([key])
    assert stored["s"] == "héllo" and stored["i"] == [3, 1, 2] and stored["bo"] is True
    assert stored["d"] == datetime.datetime(2020, 1, 2, 3, 4, 5, 6) and stored["k"].path == (("Other", 7),)
    assert stored["b"] == b"\x00\xff" and stored["n"] is None
    testbed.datastore.put([Entity.from_values(Key.build(APP_ID, "", [("FromDb", "x")]), {"v": "db"})])
    got = get(rpc, simple_entity("FromDb", "x").key)
    assert got.entity[0].entity.property[0].value.stringValue == b"db"


def test_put_assigns_ids_fills_entity_group_and_get_reports_missing(rpc):
    reply = rpc.ok("datastore_v3", "Put", put_request(simple_entity("Auto", v=1), simple_entity("Auto", v=2)),
                   pb().datastore.PutResponse)
    ids = [k.path.element[0].id for k in reply.key]
    assert all(ids) and ids[0] != ids[1]
    missing = simple_entity("Auto", 10 ** 12).key
    got = get(rpc, reply.key[0], missing)
    assert got.entity[0].entity.entity_group.element[0].id == ids[0]
    assert not got.entity[1].HasField("entity") and got.entity[1].key == missing


def test_transaction_puts_get_ids_now_and_apply_at_commit(rpc):
    txn = begin(rpc)
    reply = rpc.ok("datastore_v3", "Put", put_request(simple_entity("InTxn", v=1), txn=txn), pb().datastore.PutResponse)
    assert reply.key[0].path.element[0].id
    assert not get(rpc, reply.key[0]).entity[0].HasField("entity")
    rpc.ok("datastore_v3", "Commit", txn, pb().datastore.CommitResponse)
    assert get(rpc, reply.key[0]).entity[0].HasField("entity")


def test_conflicting_commit_is_application_error_2_and_rollback_discards(rpc):
    key = rpc.ok("datastore_v3", "Put", put_request(simple_entity("Counter", "c", n=0)), pb().datastore.PutResponse).key[0]
    txn = begin(rpc)
    get(rpc, key, txn=txn)
    rpc.ok("datastore_v3", "Put", put_request(simple_entity("Counter", "c", n=5)), pb().datastore.PutResponse)
    rpc.ok("datastore_v3", "Put", put_request(simple_entity("Counter", "c", n=1), txn=txn), pb().datastore.PutResponse)
    error = rpc.app_error("datastore_v3", "Commit", txn)
    assert error.code == 2 and "Concurrency" in error.detail
    assert rpc.call("datastore_v3", "Rollback", txn).ListFields() == []  # after a failed commit: harmless
    txn = begin(rpc)
    rpc.ok("datastore_v3", "Put", put_request(simple_entity("Counter", "c", n=9), txn=txn), pb().datastore.PutResponse)
    rpc.call("datastore_v3", "Rollback", txn)
    assert get(rpc, key).entity[0].entity.property[0].value.int64Value == 5


def test_delete_and_allocate_ids(rpc):
    key = rpc.ok("datastore_v3", "Put", put_request(simple_entity("Gone", "g")), pb().datastore.PutResponse).key[0]
    delete = pb().datastore.DeleteRequest()
    delete.key.add().CopyFrom(key)
    rpc.ok("datastore_v3", "Delete", delete, pb().datastore.DeleteResponse)
    assert not get(rpc, key).entity[0].HasField("entity")
    request = pb().datastore.AllocateIdsRequest(size=5)
    key_to_pb(Key.build(APP_ID, "", [("Gone", None)]), request.model_key)
    reply = rpc.ok("datastore_v3", "AllocateIds", request, pb().datastore.AllocateIdsResponse)
    assert reply.end - reply.start == 4


def _query(**fields: Any) -> Any:
    query = pb().datastore.Query(app=APP_ID, kind="Score", **fields)
    return query


def test_queries_filter_order_count_and_batches(rpc):
    rpc.ok("datastore_v3", "Put", put_request(*(simple_entity("Score", f"s{i}", n=i, even=i % 2 == 0) for i in range(7))),
           pb().datastore.PutResponse)
    query = _query(compile=True)
    f = query.filter.add(op=3)  # GREATER_THAN
    property_to_pb(f.property.add(), "n", 1)
    query.order.add(property="n", direction=2)
    result = rpc.ok("datastore_v3", "RunQuery", query, pb().datastore.QueryResult)
    values = [r.property[0].value.int64Value for r in result.result]
    assert values == [6, 5, 4, 3, 2] and not result.more_results and result.HasField("compiled_cursor")

    count = _query(offset=2 ** 31 - 1, limit=0, keys_only=True)
    f = count.filter.add(op=5)
    property_to_pb(f.property.add(), "even", True)
    assert rpc.ok("datastore_v3", "RunQuery", count, pb().datastore.QueryResult).skipped_results == 4

    batched = _query(count=3, limit=5, offset=1)
    first = rpc.ok("datastore_v3", "RunQuery", batched, pb().datastore.QueryResult)
    assert first.skipped_results == 1 and len(first.result) == 3 and first.more_results
    nxt = rpc.ok("datastore_v3", "Next", pb().datastore.NextRequest(cursor=first.cursor, count=3), pb().datastore.QueryResult)
    names = [r.key.path.element[0].name for r in list(first.result) + list(nxt.result)]
    assert names == ["s1", "s2", "s3", "s4", "s5"] and not nxt.more_results


def test_query_resumes_from_a_compiled_cursor(rpc):
    rpc.ok("datastore_v3", "Put", put_request(*(simple_entity("Score", f"s{i}", n=i) for i in range(4))),
           pb().datastore.PutResponse)
    first = rpc.ok("datastore_v3", "RunQuery", _query(limit=2, compile=True), pb().datastore.QueryResult)
    resumed = _query(compile=True)
    resumed.compiled_cursor.CopyFrom(first.compiled_cursor)
    rest = rpc.ok("datastore_v3", "RunQuery", resumed, pb().datastore.QueryResult)
    assert [r.key.path.element[0].name for r in rest.result] == ["s2", "s3"]


def test_bad_requests_are_application_error_1(rpc):
    incomplete = simple_entity("Nope").key
    request = pb().datastore.GetRequest()
    request.key.add().CopyFrom(incomplete)
    assert rpc.app_error("datastore_v3", "Get", request).code == 1
    assert rpc.app_error("datastore_v3", "Commit", pb().datastore.Transaction(handle=999999, app=APP_ID)).code == 1


def test_a_user_value_keeps_every_field_and_gets_the_stubs_user_id(rpc):
    from gae_emu.services.users import user_id_for

    entity = simple_entity("U", "u")
    user = entity.property.add(name="who", multiple=False).value.uservalue
    user.email, user.auth_domain, user.gaiaid, user.nickname = "Fed@Example.com", "example.com", 0, "fed"
    user.obfuscated_gaiaid, user.federated_identity, user.federated_provider = "forged", "https://id/f", "id"
    rpc.ok("datastore_v3", "Put", put_request(entity), pb().datastore.PutResponse)
    got = get(rpc, entity.key).entity[0].entity.property[0].value.uservalue
    assert (got.email, got.auth_domain, got.nickname, got.federated_identity, got.federated_provider) == (
        "Fed@Example.com", "example.com", "fed", "https://id/f", "id")
    assert got.obfuscated_gaiaid == user_id_for("fed@example.com")
