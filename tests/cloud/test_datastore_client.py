"""google-cloud-datastore (from the package index) against the v1 front door, in-process, through both
of its transports (gRPC, and HTTP with protobuf bodies: the REST form on the same port). Over HTTP the
client raises the HTTP status's exception class (409 Conflict for ABORTED and ALREADY_EXISTS, 400 for
INVALID_ARGUMENT), so the tests name those base classes."""
from __future__ import annotations

import datetime

import pytest

from gae_emu.services.datastore import Key

from tests.cloud.conftest import PROJECT

google_exceptions = pytest.importorskip("google.api_core.exceptions")


def test_put_get_delete_round_trips_every_value_type(client):
    from google.cloud import datastore

    key = client.key("Thing", "a")
    entity = datastore.Entity(key, exclude_from_indexes=("notes",))
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    entity.update({
        "n": 7, "f": 1.5, "b": True, "s": "hé", "raw": b"\x00\xff", "when": when, "none": None,
        "ref": client.key("Other", 3), "tags": ["x", "y"], "empty": [],
        "pt": datastore.helpers.GeoPoint(1.25, -2.5), "notes": "long text",
    })
    client.put(entity)
    got = client.get(key)
    assert got == entity
    assert got["when"] == when and got["ref"] == client.key("Other", 3)
    assert got.exclude_from_indexes == {"notes"}
    client.delete(key)
    assert client.get(key) is None


def test_lookup_reports_missing_and_found(client):
    from google.cloud import datastore

    client.put(datastore.Entity(client.key("K", 1)))
    missing = []
    found = client.get_multi([client.key("K", 1), client.key("K", 2)], missing=missing)
    assert [e.key.id for e in found] == [1]
    assert [e.key.id for e in missing] == [2]


def test_incomplete_keys_get_ids_and_allocate_ids_never_collide(client, service):
    from google.cloud import datastore

    entity = datastore.Entity(client.key("Auto"))
    client.put(entity)
    assert entity.key.id is not None
    allocated = client.allocate_ids(client.key("Auto"), 3)
    ids = [k.id for k in allocated]
    assert len(set(ids + [entity.key.id])) == 4
    client.reserve_ids_sequential(client.key("Auto", 500), 1)
    fresh = datastore.Entity(client.key("Auto"))
    client.put(fresh)
    assert fresh.key.id > 500
    # The service (what the bundled API reads) holds it under the app id dev~<project>.
    stored = service.get([Key.build("dev~" + PROJECT, "", [("Auto", entity.key.id)])])[0]
    assert stored is not None


def test_queries_filters_orders_cursors_projection_keys_only(client):
    from google.cloud import datastore
    from google.cloud.datastore.query import PropertyFilter

    for i in range(10):
        e = datastore.Entity(client.key("Q", i + 1))
        e.update({"n": i, "tag": ["even" if i % 2 == 0 else "odd", "all"], "group": i % 3})
        client.put(e)
    q = client.query(kind="Q")
    q.add_filter(filter=PropertyFilter("n", ">=", 3))
    q.add_filter(filter=PropertyFilter("n", "<", 8))
    q.order = ["-n"]
    assert [e["n"] for e in q.fetch()] == [7, 6, 5, 4, 3]
    q = client.query(kind="Q")
    q.add_filter(filter=PropertyFilter("n", "IN", [1, 4, 9]))
    assert sorted(e["n"] for e in q.fetch()) == [1, 4, 9]
    q = client.query(kind="Q")
    q.add_filter(filter=PropertyFilter("n", "!=", 4))
    assert [e["n"] for e in q.fetch()] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    q = client.query(kind="Q")
    q.add_filter(filter=PropertyFilter("n", "NOT_IN", [0, 9]))
    assert [e["n"] for e in q.fetch()] == [1, 2, 3, 4, 5, 6, 7, 8]
    q = client.query(kind="Q")
    q.add_filter(filter=PropertyFilter("tag", "=", "all"))
    assert len(list(q.fetch())) == 10  # a list property matches once
    # pages with cursors
    q = client.query(kind="Q", order=["n"])
    page = q.fetch(limit=4)
    first = [e["n"] for e in next(page.pages)]
    rest = [e["n"] for e in q.fetch(start_cursor=page.next_page_token)]
    assert first == [0, 1, 2, 3] and rest == [4, 5, 6, 7, 8, 9]
    assert [e["n"] for e in client.query(kind="Q", order=["n"]).fetch(offset=8)] == [8, 9]
    # keys only and projection with distinct_on
    keys_q = client.query(kind="Q")
    keys_q.keys_only()
    assert sorted(e.key.id for e in keys_q.fetch()) == list(range(1, 11))
    proj = client.query(kind="Q", projection=["group"], distinct_on=["group"])
    assert [e["group"] for e in proj.fetch()] == [0, 1, 2]


def test_transaction_conflict_is_aborted_and_retried_by_the_client(client):
    from google.cloud import datastore

    key = client.key("Counter", "c")
    client.put(datastore.Entity(key))
    with client.transaction():
        client.put(datastore.Entity(client.key("Counter", "other")))
    first, second = client.transaction(), client.transaction()
    first.begin()
    second.begin()
    for txn in (first, second):
        entity = client.get(key, transaction=txn) or datastore.Entity(key)
        entity["by"] = "first" if txn is first else "second"
        txn.put(entity)
    first.commit()
    with pytest.raises(google_exceptions.Conflict):
        second.commit()
    assert client.get(key)["by"] == "first"


def test_insert_and_update_preconditions_name_the_entity(client):
    from google.cloud import datastore

    key = client.key("Pre", "p")
    client.put(datastore.Entity(key))
    from google.cloud.datastore_v1.types import datastore as d, entity as e

    api = client._datastore_api
    insert = d.Mutation(insert=e.Entity(key=key.to_protobuf()))
    with pytest.raises(google_exceptions.Conflict, match="Pre"):
        api.commit(request={"project_id": PROJECT, "mode": d.CommitRequest.Mode.NON_TRANSACTIONAL,
                            "mutations": [insert]})
    update = d.Mutation(update=e.Entity(key=client.key("Pre", "nope").to_protobuf()))
    with pytest.raises(google_exceptions.NotFound, match="nope"):
        api.commit(request={"project_id": PROJECT, "mode": d.CommitRequest.Mode.NON_TRANSACTIONAL,
                            "mutations": [update]})


def test_bad_requests_are_invalid_argument_naming_the_field(client):
    from google.cloud.datastore_v1.types import datastore as d, entity as e

    api = client._datastore_api
    incomplete = e.Key(partition_id=e.PartitionId(project_id=PROJECT), path=[e.Key.PathElement(kind="K")])
    with pytest.raises(google_exceptions.BadRequest, match=r"keys\[0\]"):
        api.lookup(request={"project_id": PROJECT, "keys": [incomplete]})
    other = e.Key(partition_id=e.PartitionId(project_id="elsewhere"), path=[e.Key.PathElement(kind="K", id=1)])
    with pytest.raises(google_exceptions.BadRequest, match="elsewhere"):
        api.lookup(request={"project_id": PROJECT, "keys": [other]})
    with pytest.raises(google_exceptions.BadRequest, match="expired"):
        api.commit(request={"project_id": PROJECT, "mode": d.CommitRequest.Mode.TRANSACTIONAL,
                                "transaction": b"12345678"})
    api.rollback(request={"project_id": PROJECT, "transaction": b"nonsense"})  # an ended one: harmless


def test_namespaces_are_separate(client):
    from google.cloud import datastore

    other = datastore.Client(project=PROJECT, namespace="ns1")
    client.put(datastore.Entity(client.key("N", 1)))
    other.put(datastore.Entity(other.key("N", 1)))
    assert len(list(client.query(kind="N").fetch())) == 1
    assert other.get(other.key("N", 1)).key.namespace == "ns1"


def test_or_filters_and_inequalities_on_several_properties(client):
    from google.cloud import datastore
    from google.cloud.datastore.query import And, Or, PropertyFilter

    for i in range(8):
        e = datastore.Entity(client.key("F", i + 1))
        e.update({"a": i, "b": i % 4, "c": "x" if i < 4 else "y"})
        client.put(e)
    q = client.query(kind="F", filters=[Or([PropertyFilter("a", "=", 1), PropertyFilter("b", "=", 3)])])
    assert sorted(e["a"] for e in q.fetch()) == [1, 3, 7]
    q = client.query(kind="F", filters=[And([PropertyFilter("c", "=", "y"),
                                            Or([PropertyFilter("a", "<", 5), PropertyFilter("a", ">", 6)])])])
    assert sorted(e["a"] for e in q.fetch()) == [4, 7]
    q = client.query(kind="F", filters=[PropertyFilter("a", ">", 1), PropertyFilter("b", "<", 2)])
    assert [(e["a"], e["b"]) for e in q.fetch()] == [(4, 0), (5, 1)]  # ordered by a, then b, then key
    q = client.query(kind="F", filters=[PropertyFilter("a", ">=", 2)], order=["-b"])
    assert [e["a"] for e in q.fetch()][:2] == [3, 7]  # an order that is not the inequality's


def test_aggregations_count_sum_avg(client):
    from google.cloud import datastore
    from google.cloud.datastore.query import PropertyFilter

    for i, score in enumerate([1, 2, 3.5, "not a number", 4]):
        e = datastore.Entity(client.key("Score", i + 1))
        e.update({"score": score, "team": "a" if i < 3 else "b"})
        client.put(e)
    query = client.query(kind="Score")
    agg = client.aggregation_query(query)
    agg.count(alias="n").sum("score", alias="total").avg("score", alias="mean")
    (results,) = list(agg.fetch())
    got = {r.alias: r.value for r in results}
    assert got == {"n": 5, "total": 10.5, "mean": 10.5 / 4}
    capped = client.aggregation_query(client.query(kind="Score")).count(alias="n")
    assert [r.value for r in list(capped.fetch(limit=2))[0]] == [2]  # count up_to
    team_b = client.query(kind="Score", filters=[PropertyFilter("team", "=", "b")])
    ints = client.aggregation_query(team_b).sum("score", alias="s")
    assert [r.value for r in list(ints.fetch())[0]] == [4]
    # avg over no number is null (the client library shows null as 0.0, so read the response itself)
    from google.cloud.datastore_v1.types import query as q

    request = {"project_id": PROJECT, "aggregation_query": q.AggregationQuery(
        nested_query=q.Query(kind=[q.KindExpression(name="Score")]),
        aggregations=[q.AggregationQuery.Aggregation(avg={"property": {"name": "nothing"}}, alias="none")])}
    response = client._datastore_api.run_aggregation_query(request=request)
    value = response.batch.aggregation_results[0].aggregate_properties["none"]
    assert "null_value" in value and "double_value" not in value


def _gql(client, text, named=None, positional=(), allow_literals=True, aggregation=False):
    from google.cloud.datastore import helpers
    from google.cloud.datastore_v1.types import query as q

    def param(value):
        if isinstance(value, bytes):
            return q.GqlQueryParameter(cursor=value)
        pb = q.GqlQueryParameter()
        helpers._set_protobuf_value(pb.value._pb, value)
        return pb

    gql = q.GqlQuery(query_string=text, allow_literals=allow_literals,
                     named_bindings={k: param(v) for k, v in (named or {}).items()},
                     positional_bindings=[param(v) for v in positional])
    request = {"project_id": PROJECT, "gql_query": gql}
    api = client._datastore_api
    return api.run_aggregation_query(request=request) if aggregation else api.run_query(request=request)


def test_gql_with_literals_named_and_positional_bindings(client):
    from google.cloud import datastore

    parent = client.key("Shelf", "s")
    for i in range(6):
        e = datastore.Entity(client.key("Book", i + 1, parent=parent if i < 3 else None))
        e.update({"title": f"t{i}", "pages": i * 10, "genre": "sf" if i % 2 else "crime"})
        client.put(e)

    def pages(response):
        return [r.entity.properties["pages"].integer_value for r in response.batch.entity_results]

    assert pages(_gql(client, "SELECT * FROM Book WHERE pages >= 20 ORDER BY pages DESC LIMIT 2")) == [50, 40]
    assert pages(_gql(client, "select * from `Book` where genre = @g and pages < @max order by pages",
                      named={"g": "sf", "max": 50})) == [10, 30]
    assert pages(_gql(client, "SELECT * FROM Book WHERE genre = @1 OR pages = @2 ORDER BY pages",
                      positional=["crime", 50], allow_literals=False)) == [0, 20, 40, 50]
    assert pages(_gql(client, "SELECT * FROM Book WHERE pages IN ARRAY(10, 30) AND pages NOT IN (30)")) == [10]
    assert pages(_gql(client, "SELECT * FROM Book WHERE __key__ HAS ANCESTOR KEY(Shelf, 's') ORDER BY pages")) == [0, 10, 20]
    keys = _gql(client, "SELECT __key__ FROM Book WHERE pages > 30")
    assert keys.batch.entity_result_type == 3 and len(keys.batch.entity_results) == 2
    distinct = _gql(client, "SELECT DISTINCT genre FROM Book")
    assert [r.entity.properties["genre"].string_value for r in distinct.batch.entity_results] == ["crime", "sf"]
    first = _gql(client, "SELECT * FROM Book ORDER BY pages LIMIT 2")
    after = _gql(client, "SELECT * FROM Book ORDER BY pages LIMIT 2 OFFSET @c", named={"c": first.batch.end_cursor})
    assert pages(after) == [20, 30]
    with pytest.raises(google_exceptions.BadRequest, match="allow_literals"):
        _gql(client, "SELECT * FROM Book WHERE pages = 10", allow_literals=False)
    with pytest.raises(google_exceptions.BadRequest, match="expected a comparison at the end"):
        _gql(client, "SELECT * FROM Book WHERE WHERE")
    with pytest.raises(google_exceptions.BadRequest, match="no binding named 'nope'"):
        _gql(client, "SELECT * FROM Book WHERE pages = @nope")
    counted = _gql(client, "AGGREGATE COUNT(*) AS n, SUM(pages) AS total, AVG(pages) OVER (SELECT * FROM Book WHERE genre = 'sf')",
                   aggregation=True)
    props = counted.batch.aggregation_results[0].aggregate_properties
    assert props["n"].integer_value == 3 and props["total"].integer_value == 90
    assert props["property_3"].double_value == 30.0
    short = _gql(client, "SELECT COUNT(*) AS c FROM Book WHERE pages > 0", aggregation=True)
    assert short.batch.aggregation_results[0].aggregate_properties["c"].integer_value == 5


def test_transactions_of_both_apis_conflict(client, service):
    """A write through the bundled API's service (what datastore_v3 calls) to an entity group a v1
    transaction has read makes that transaction's commit ABORTED, and the reverse."""
    from google.cloud import datastore

    from gae_emu.services.datastore import Entity as ServiceEntity, TransactionFailedError

    key = client.key("Shared", "s")
    client.put(datastore.Entity(key))
    stored_key = Key.build("dev~" + PROJECT, "", [("Shared", "s")])
    txn = client.transaction()
    txn.begin()
    client.get(key, transaction=txn)
    service.put([ServiceEntity.from_values(stored_key, {"by": "bundled"})])
    txn.put(datastore.Entity(key))
    with pytest.raises(google_exceptions.Conflict):
        txn.commit()
    bundled = service.begin_transaction()
    service.get([stored_key], bundled)
    client.put(datastore.Entity(key))
    service.put([ServiceEntity.from_values(stored_key, {"by": "bundled again"})], bundled)
    with pytest.raises(TransactionFailedError):
        service.commit(bundled)


def test_transactions_query_without_ancestor_and_span_many_groups(client):
    from google.cloud import datastore
    from google.cloud.datastore.query import PropertyFilter

    for i in range(30):
        e = datastore.Entity(client.key("Wide", i + 1))
        e["n"] = i
        client.put(e)
    with client.transaction() as txn:
        found = list(client.query(kind="Wide", filters=[PropertyFilter("n", ">=", 0)]).fetch())
        assert len(found) == 30  # 30 entity groups: over App Engine's 25, within Cloud Datastore's bound
        for e in found:
            e["n"] += 100
            txn.put(e)
    assert sorted(e["n"] for e in client.query(kind="Wide").fetch()) == list(range(100, 130))
    # A result changed by someone else before the commit makes the commit fail.
    other = datastore.Client(project=PROJECT, _use_grpc=client._use_grpc)  # outside the transaction
    with pytest.raises(google_exceptions.Conflict):
        with client.transaction() as txn:
            (first,) = list(client.query(kind="Wide", filters=[PropertyFilter("n", "=", 100)]).fetch())
            rival = datastore.Entity(first.key)
            rival["n"] = -1
            other.put(rival)
            first["n"] = 0
            txn.put(first)
    assert other.get(first.key)["n"] == -1
