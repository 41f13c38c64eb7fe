"""The datastore service: keys, typed values, ids, queries, transactions, persistence."""
from __future__ import annotations

import datetime
import pickle
import threading

import pytest

from gae_emu.services.datastore import (
    BadRequestError, Blob, ByteString, DatastoreService, Entity, Filter, Key, Meaning, Order, Query, Text,
    TransactionFailedError,
)
from gae_emu.storage import Storage

APP = "dev~test"


def key(*path: object, namespace: str = "") -> Key:
    return Key.from_path(*path, _app=APP, namespace=namespace)


def new_key(kind: str, parent: Key = None) -> Key:
    return Key.build(APP, parent.namespace() if parent else "", (parent.path if parent else ()) + ((kind, None),))


@pytest.fixture
def ds(storage):
    return DatastoreService(storage)


# -- keys ----------------------------------------------------------------------------------------

def test_key_str_round_trip_pickle_and_parents():
    parent = key("Parent", 7)
    child = Key.from_path("Child", "abc", parent=parent)
    assert child.parent() == parent and child.root() == parent
    assert child.kind() == "Child" and child.name() == "abc" and child.id() is None
    assert Key(str(child)) == child and hash(Key(str(child))) == hash(child)
    assert pickle.loads(pickle.dumps(child)) == child
    assert child.to_path() == ["Parent", 7, "Child", "abc"]
    namespaced = key("K", 1, namespace="ns")
    assert Key(str(namespaced)).namespace() == "ns" and namespaced != key("K", 1)


def test_key_urlsafe_is_app_engine_reference_encoding():
    # Reference{app="dev~test", path{Element{type="Kind", id=1}}}, as protobuf serializes it
    expected = b"j\x08dev~testr\x0a\x0b\x12\x04Kind\x18\x01\x0c"
    assert key("Kind", 1).to_reference() == expected


def test_key_order_ids_before_names():
    assert sorted([key("A", "x"), key("A", 2), key("A", 1), key("A", 1, "B", 1)]) == [
        key("A", 1), key("A", 1, "B", 1), key("A", 2), key("A", "x")]


def test_bad_string_key():
    with pytest.raises(Exception) as info:
        Key("not-a-key!!")
    assert "Invalid string key" in str(info.value)


# -- values --------------------------------------------------------------------------------------

def test_every_type_round_trips_with_meaning_and_indexed(ds, storage):
    when = datetime.datetime(2021, 5, 6, 7, 8, 9, 123456)
    values = {
        "none": None, "int": 2 ** 62, "float": 0.1, "bool": True, "str": "héllo", "bytes": b"\x00\xff",
        "text": Text("long"), "blob": Blob(b"\x01"), "bytestring": ByteString(b"\x02"), "when": when,
        "ref": key("Other", "x"), "list": [1, "a", 2.5, None],
    }
    entity = Entity.from_values(new_key("All"), values, unindexed=["int"])
    [k] = ds.put([entity])
    got = DatastoreService(storage).get([k])[0]
    assert got.to_dict() == values
    for name, value in values.items():
        assert type(got[name]) is type(value), name
    props = got.properties
    assert props["text"].values[0].meaning == Meaning.TEXT and not props["text"].values[0].indexed
    assert props["blob"].values[0].meaning == Meaning.BLOB and not props["blob"].values[0].indexed
    assert props["bytestring"].values[0].meaning == Meaning.BYTESTRING and props["bytestring"].values[0].indexed
    assert props["when"].values[0].meaning == Meaning.GD_WHEN
    assert not props["int"].values[0].indexed and props["str"].values[0].indexed
    assert props["list"].multiple and not props["str"].multiple


def test_explicit_meaning_is_kept(ds):
    entity = Entity(new_key("M"))
    entity.set("zipped", b"abc", indexed=False, meaning=22)
    [k] = ds.put([entity])
    assert ds.get([k])[0].properties["zipped"].values[0].meaning == 22


# -- put / get / delete / ids --------------------------------------------------------------------

def test_batches_and_missing(ds):
    keys = ds.put([Entity.from_values(new_key("K"), {"n": i}) for i in range(3)])
    assert [k.id() for k in keys] == [1, 2, 3]
    got = ds.get(keys + [key("K", 99)])
    assert [e["n"] for e in got[:3]] == [0, 1, 2] and got[3] is None
    ds.delete(keys[:2])
    assert ds.get(keys) == [None, None, got[2]]


def test_ids_never_reused_across_reopen(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    ds = DatastoreService(storage)
    [k] = ds.put([Entity(new_key("K"))])
    ds.delete([k])
    assert ds.allocate_ids(key("K", 1), 10) == (2, 11)
    ds.put([Entity(key("K", 500))])  # an explicit id pushes automatic ids past it
    storage.close()
    storage = Storage(tmp_path / "db.sqlite3")
    [k2] = DatastoreService(storage).put([Entity(new_key("K"))])
    assert k2.id() == 501
    storage.close()


def test_data_survives_reopen(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    [k] = DatastoreService(storage).put([Entity.from_values(new_key("K"), {"x": "kept"})])
    storage.close()
    storage = Storage(tmp_path / "db.sqlite3")
    assert DatastoreService(storage).get([k])[0]["x"] == "kept"
    storage.close()


# -- queries -------------------------------------------------------------------------------------

@pytest.fixture
def people(ds):
    rows = [("ann", 30, ["a", "b"]), ("bob", 25, ["b"]), ("cid", 35, []), ("dee", 25, ["c"]), ("eve", None, ["a"])]
    entities = []
    for name, age, tags in rows:
        values = {"name": name, "age": age}
        if tags:
            values["tags"] = tags
        entities.append(Entity.from_values(key("Person", name), values))
    ds.put(entities)
    return ds


def names(result):
    return [e.key.name() for e in result.entities]


def test_query_filters_orders(people):
    ds = people
    assert names(ds.run_query(Query(kind="Person", filters=[Filter("age", "=", 25)]))) == ["bob", "dee"]
    assert names(ds.run_query(Query(kind="Person", filters=[Filter("age", ">", 25)],
                                    orders=[Order("age", descending=True)]))) == ["cid", "ann"]
    assert names(ds.run_query(Query(kind="Person", orders=[Order("age"), Order("name", True)]))) == [
        "eve", "dee", "bob", "ann", "cid"]  # None sorts first
    assert names(ds.run_query(Query(kind="Person", filters=[Filter("tags", "=", "b")]))) == ["ann", "bob"]
    assert names(ds.run_query(Query(kind="Person", filters=[Filter("tags", "in", ["c", "a"])]))) == [
        "ann", "dee", "eve"]
    # sorting a list property: ascending by its smallest value, descending by its largest
    assert names(ds.run_query(Query(kind="Person", orders=[Order("tags")]))) == ["ann", "eve", "bob", "dee"]
    assert names(ds.run_query(Query(kind="Person", orders=[Order("tags", True)]))) == ["dee", "ann", "bob", "eve"]


def test_query_rules(people):
    with pytest.raises(BadRequestError, match="Only one inequality filter"):
        people.run_query(Query(kind="Person", filters=[Filter("age", ">", 1), Filter("name", "<", "z")]))
    with pytest.raises(BadRequestError, match="first sort property"):
        people.run_query(Query(kind="Person", filters=[Filter("age", ">", 1)], orders=[Order("name")]))


def test_limit_offset_keys_only_count_cursor(people):
    ds = people
    q = Query(kind="Person", orders=[Order("name")], limit=2, offset=1, keys_only=True)
    first = ds.run_query(q)
    assert [k.name() for k in first.keys] == ["bob", "cid"] and first.skipped_results == 1
    assert first.more_results and first.entities[0].properties == {}
    nxt = ds.run_query(Query(kind="Person", orders=[Order("name")], start_cursor=first.cursor))
    assert names(nxt) == ["dee", "eve"] and not nxt.more_results
    assert ds.count(Query(kind="Person")) == 5
    # None sorts below every integer, so eve (age None) matches "age < 30", as on App Engine
    assert ds.count(Query(kind="Person", filters=[Filter("age", "<", 30)])) == 3


def test_ancestor_kindless_and_namespaces(ds):
    root = key("Root", 1)
    ds.put([Entity(root), Entity(Key.from_path("Child", 1, parent=root)), Entity(key("Child", 2)),
            Entity(key("Child", 3, namespace="other"))])
    assert len(ds.run_query(Query(ancestor=root)).entities) == 2
    assert [e.key.id() for e in ds.run_query(Query(kind="Child", ancestor=root)).entities] == [1]
    assert [e.key.id() for e in ds.run_query(Query(kind="Child", namespace="other")).entities] == [3]
    assert ds.namespaces() == ["", "other"] and ds.kinds("") == ["Child", "Root"]
    page, total = ds.list_entities("Child")
    assert total == 2 and page[0].key.kind() == "Child"


# -- transactions --------------------------------------------------------------------------------

def test_txn_puts_invisible_until_commit_and_ids_assigned(ds):
    txn = ds.begin_transaction()
    [k] = ds.put([Entity.from_values(new_key("K"), {"v": 1})], txn)
    assert k.has_id_or_name()
    assert ds.get([k], txn) == [None] and ds.get([k]) == [None]
    ds.commit(txn)
    assert ds.get([k])[0]["v"] == 1


def test_conflict_with_plain_put(ds):
    k = key("K", 1)
    ds.put([Entity.from_values(k, {"v": 0})])
    txn = ds.begin_transaction()
    ds.get([k], txn)
    ds.put([Entity.from_values(k, {"v": 5})])  # a concurrent non-transactional write
    ds.put([Entity.from_values(k, {"v": 1})], txn)
    with pytest.raises(TransactionFailedError) as info:
        ds.commit(txn)
    assert info.value.code == 2 and ds.get([k])[0]["v"] == 5


def test_conflict_between_threads(ds):
    k = key("K", 1)
    ds.put([Entity.from_values(k, {"v": 0})])
    both_read = threading.Barrier(2)
    outcomes = {}

    def worker(name):
        txn = ds.begin_transaction()
        value = ds.get([k], txn)[0]["v"]
        both_read.wait()
        ds.put([Entity.from_values(k, {"v": value + 1})], txn)
        if name == "second":
            first_done.wait()
        try:
            ds.commit(txn)
            outcomes[name] = "ok"
        except TransactionFailedError:
            outcomes[name] = "conflict"
        if name == "first":
            first_done.set()

    first_done = threading.Event()
    threads = [threading.Thread(target=worker, args=(n,)) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {"first": "ok", "second": "conflict"}
    assert ds.get([k])[0]["v"] == 1


def test_cross_group_rules(ds):
    txn = ds.begin_transaction()
    ds.get([key("A", 1)], txn)
    with pytest.raises(BadRequestError, match="cross-group"):
        ds.get([key("B", 1)], txn)
    xg = ds.begin_transaction(xg=True)
    ds.get([key("G", i) for i in range(1, 26)], xg)
    with pytest.raises(BadRequestError, match="too many entity groups"):
        ds.get([key("G", 26)], xg)


def test_only_ancestor_queries_in_txn(ds):
    txn = ds.begin_transaction()
    with pytest.raises(BadRequestError, match="Only ancestor queries"):
        ds.run_query(Query(kind="K"), txn)


def test_on_commit_runs_in_the_same_sqlite_transaction(ds, storage):
    storage.ensure_schema("probe", "CREATE TABLE IF NOT EXISTS probe (x INTEGER);")
    txn = ds.begin_transaction()
    ds.put([Entity(key("K", 1))], txn)
    txn.on_commit(lambda conn: conn.execute("INSERT INTO probe VALUES (1)"))
    ds.commit(txn)
    assert storage.connection().execute("SELECT count(*) FROM probe").fetchone()[0] == 1

    rolled_back = []
    txn = ds.begin_transaction()
    ds.put([Entity(key("K", 2))], txn)
    txn.on_commit(lambda conn: conn.execute("INSERT INTO probe VALUES (2)"))

    def fail(conn):
        raise RuntimeError("task queue refused")

    txn.on_commit(fail)
    txn.on_rollback(lambda: rolled_back.append(True))
    with pytest.raises(RuntimeError):
        ds.commit(txn)
    assert ds.get([key("K", 2)]) == [None] and rolled_back == [True]
    assert storage.connection().execute("SELECT count(*) FROM probe").fetchone()[0] == 1


def test_rollback_runs_hooks_and_discards(ds):
    seen = []
    txn = ds.begin_transaction()
    ds.put([Entity(key("K", 1))], txn)
    txn.on_rollback(lambda: seen.append("rolled back"))
    ds.rollback(txn)
    assert seen == ["rolled back"] and ds.get([key("K", 1)]) == [None]
    with pytest.raises(BadRequestError):
        ds.commit(txn)


def test_reset(ds):
    ds.put([Entity(key("K", 1))])
    ds.reset()
    assert ds.get([key("K", 1)]) == [None]


def test_points_and_users_round_trip_and_users_get_the_dev_user_id(ds):
    from gae_emu.services.datastore import GeoPt, UserValue
    from gae_emu.services.users import user_id_for

    entity = Entity(key("Place", 1))
    entity.set("where", GeoPt(-33.5, 18.25))
    entity.set("who", [UserValue("A@x.com", "x.com", user_id="forged"), UserValue("b@x.com")])
    ds.put([entity])
    (got,) = ds.get([key("Place", 1)])
    assert got["where"] == GeoPt(-33.5, 18.25) and got.properties["where"].values[0].meaning == Meaning.GEORSS_POINT
    assert [u.user_id for u in got["who"]] == [user_id_for("a@x.com"), user_id_for("b@x.com")]
    assert [str(u) for u in got["who"]] == ["A@x.com", "b@x.com"]  # as the admin console shows them
    found = ds.run_query(Query(kind="Place", filters=[Filter("who", "=", UserValue("A@x.com", "x.com"))]))
    assert found.keys == [key("Place", 1)]
    with pytest.raises(Exception, match="Latitude"):
        GeoPt(91, 0).check()


def test_a_cursor_used_with_the_reversed_sort_starts_at_its_result(ds):
    ds.put([Entity.from_values(key("N", i), {"n": i}) for i in range(1, 6)])
    first = ds.run_query(Query(kind="N", orders=[Order("n")], limit=2))
    assert [e["n"] for e in first.entities] == [1, 2]
    after = ds.run_query(Query(kind="N", orders=[Order("n")], start_cursor=first.cursor))
    assert [e["n"] for e in after.entities] == [3, 4, 5]
    back = ds.run_query(Query(kind="N", orders=[Order("n", True)], start_cursor=first.cursor))
    assert [e["n"] for e in back.entities] == [2, 1]
    until = ds.run_query(Query(kind="N", orders=[Order("n", True)], end_cursor=first.cursor))
    assert [e["n"] for e in until.entities] == [5, 4, 3]


def test_equality_prefilter_keeps_every_row_that_matches(ds):
    """Rows are skipped undecoded when they cannot hold an equality filter's value; nothing that
    matches in App Engine's value order may be skipped (a str equals its UTF-8 bytes; lists match once)."""
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 6)
    ds.put([
        Entity.from_values(key("P", 1), {"v": "héllo", "tags": ["a", 'q"uote']}),
        Entity.from_values(key("P", 2), {"v": "héllo".encode("utf-8"), "n": 5}),
        Entity.from_values(key("P", 3), {"v": 5.0, "n": 5, "when": when}),
        Entity.from_values(key("P", 4), {"other": "héllo", "v": key("P", 1)}),
    ])

    def ids(*filters):
        return sorted(e.key.id() for e in ds.run_query(Query(kind="P", filters=filters)).entities)

    assert ids(Filter("v", "=", "héllo")) == [1, 2]
    assert ids(Filter("tags", "=", 'q"uote')) == [1]
    assert ids(Filter("n", "=", 5)) == [2, 3]
    assert ids(Filter("v", "=", 5)) == []  # an integer never equals a double
    assert ids(Filter("v", "in", (5.0, key("P", 1)))) == [3, 4]
    assert ids(Filter("when", "=", when)) == [3]
    assert ids(Filter("v", "=", None)) == []
