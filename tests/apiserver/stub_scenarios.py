"""Scenarios for `test_against_google_stub`: ndb, GQL, metadata and memcache calls whose answers
(plain data, or the error's class and message) are compared between Google's own datastore and
memcache stubs and gae-emu's API server. `seed()` writes the data; `run_all()` answers them all."""
from __future__ import annotations

import datetime
from typing import Any, Dict

from google.appengine.api import memcache, users
from google.appengine.ext import ndb
from google.appengine.ext import db
from google.appengine.ext.db import metadata as db_metadata
from google.appengine.ext.ndb import metadata


class P(ndb.Model):
    name = ndb.StringProperty(); score = ndb.IntegerProperty(); tags = ndb.StringProperty(repeated=True)
    where = ndb.GeoPtProperty(); who = ndb.UserProperty(); when = ndb.DateTimeProperty(); f = ndb.FloatProperty()


class M(ndb.Expando):
    pass


def seed():
    ndb.put_multi([
        P(id=1, name="joe", score=1, tags=["m", "z"], where=ndb.GeoPt(50, 1), who=users.User("b@x.com"), when=datetime.datetime(1960, 1, 1), f=-0.0),
        P(id=2, name="jill", score=5, tags=["a", "q"], where=ndb.GeoPt(-3, 1), who=users.User("a@x.com"), when=datetime.datetime(2000, 1, 1), f=0.0),
        P(id=3, name="zed", score=3, tags=["k"], where=ndb.GeoPt(50, -2), who=users.User("b@x.com"), f=float("inf")),
        P(id="s", name="ann", score=3, tags=[], f=float("-inf")),
        P(id=4, namespace="ns1", name="other"),
    ])
    vals = [ndb.Key("Other", 1), 2.5, float("-inf"), -0.0, 0.0, "b", b"a", True, False, 7, -3, None,
            datetime.datetime(1969, 12, 31, 23, 59, 59), ndb.GeoPt(1, 2), users.User("u@x.com"), ndb.Key("Other", "a"),
            ndb.Key("Other", 1, "Sub", 2), ndb.Key("Other", 1, namespace="zz"), [1, "x"], ]
    ents = []
    for i, v in enumerate(vals, 1):
        e = M(id=i); e.v = v; ents.append(e)
    ndb.put_multi(ents)


def ids(q, **kw):
    return [e.key.id() for e in q.fetch(**kw)]


def err(fn):
    try:
        return ("ok", fn())
    except Exception as e:
        return (type(e).__name__, str(e)[:120])


SCENARIOS: Dict[str, Any] = {
    "ineq_name": lambda: ids(P.query(P.name <= "joe")),
    "ineq_score": lambda: ids(P.query(P.score > 0)),
    "ineq_score_desc": lambda: ids(P.query(P.score > 0).order(-P.score)),
    "ne": lambda: ids(P.query(P.name != "joe")),
    "in": lambda: ids(P.query(P.score.IN([3, 1]))),
    "in_order": lambda: ids(P.query(P.score.IN([3, 1])).order(-P.score)),
    "tags_asc": lambda: ids(P.query().order(P.tags)),
    "tags_desc": lambda: ids(P.query().order(-P.tags)),
    "tags_gt": lambda: ids(P.query(P.tags > "l")),
    "tags_range": lambda: ids(P.query(P.tags > "b", P.tags < "y")),
    "tags_range_desc": lambda: ids(P.query(P.tags > "b", P.tags < "y").order(-P.tags)),
    "tags_eq_order": lambda: ids(P.query(P.tags == "q").order(P.tags, -P.score)),
    "first_sort": lambda: err(lambda: ids(P.query(P.score > 0).order(P.name))),
    "first_sort_eq_dropped": lambda: err(lambda: ids(P.query(P.score > 0, P.name == "joe").order(P.name))),
    "offset": lambda: ids(P.query(P.score > 0), offset=1, limit=2),
    "where": lambda: ids(P.query().order(P.where)),
    "where_gt": lambda: ids(P.query(P.where > ndb.GeoPt(0, 0))),
    "who": lambda: ids(P.query().order(-P.who)),
    "who_eq": lambda: ids(P.query(P.who == users.User("b@x.com"))),
    "who_id": lambda: [p.who.user_id() for p in P.query(P.who == users.User("a@x.com")).fetch()],
    "when": lambda: ids(P.query().order(P.when)),
    "f": lambda: ids(P.query().order(P.f)),
    "f_desc": lambda: ids(P.query().order(-P.f)),
    "f_eq0": lambda: ids(P.query(P.f == 0.0)),
    "mixed": lambda: ids(M.query().order(ndb.GenericProperty("v"))),
    "mixed_desc": lambda: ids(M.query().order(-ndb.GenericProperty("v"))),
    "mixed_gt_int": lambda: ids(M.query(ndb.GenericProperty("v") > 0)),
    "mixed_gt_str": lambda: ids(M.query(ndb.GenericProperty("v") > "a")),
    "proj": lambda: [(e.key.id(), e.name, e.score) for e in P.query().fetch(projection=[P.name, P.score])],
    "proj_tags": lambda: [(e.key.id(), e.tags) for e in P.query().fetch(projection=[P.tags])],
    "proj_tags_desc": lambda: [(e.key.id(), e.tags) for e in P.query().order(-P.tags).fetch(projection=[P.tags])],
    "proj_tags_score": lambda: [(e.key.id(), e.tags, e.score) for e in P.query().order(-P.score).fetch(projection=[P.tags, P.score])],
    "proj_ineq": lambda: [(e.key.id(), e.tags) for e in P.query(P.tags > "l").fetch(projection=[P.tags])],
    "proj_eq_err": lambda: err(lambda: P.query(P.name == "joe").fetch(projection=[P.name])),
    "proj_when": lambda: [(e.key.id(), e.when) for e in P.query().fetch(projection=[P.when])],
    "proj_who": lambda: [(e.key.id(), e.who.email()) for e in P.query().fetch(projection=[P.who])],
    "distinct": lambda: [e.who.email() for e in P.query(projection=[P.who], distinct=True).fetch()],
    "distinct_tags": lambda: [(e.key.id(), e.tags) for e in P.query(projection=[P.tags], distinct=True).fetch()],
    "group_score_ineq": lambda: err(lambda: [e.score for e in P.query(P.score > 1, projection=[P.score, P.name], group_by=[P.name]).fetch()]),
    "count_proj": lambda: P.query().count(projection=[P.tags]),
    "kinds": lambda: metadata.get_kinds(),
    "kinds_range": lambda: metadata.get_kinds("N", "P"),
    "namespaces": lambda: metadata.get_namespaces(),
    "props_P": lambda: metadata.get_properties_of_kind("P"),
    "reps_P": lambda: metadata.get_representations_of_kind("P"),
    "reps_M": lambda: metadata.get_representations_of_kind("M"),
    "kind_query_err": lambda: err(lambda: metadata.Kind.query().order(-metadata.Kind.key).fetch()),
    "eg_err": lambda: err(lambda: metadata.EntityGroup.query().fetch()),
    "index_list": lambda: [(i.definition.kind, i.definition.ancestor, [(p.name, p.direction) for p in i.definition.properties]) for i in _index(P.query(P.name == "joe").order(-P.score))],
    "index_list_ineq_eq": lambda: [[(p.name, p.direction) for p in i.definition.properties] for i in _index(P.query(P.name == "joe", P.score > 1))],
    "index_list_proj": lambda: [[(p.name, p.direction) for p in i.definition.properties] for i in _index(P.query(projection=[P.score, P.name]))],
    "index_list_none": lambda: _index(P.query(P.name == "joe", P.score == 1)),
    "index_anc": lambda: [[(p.name, p.direction) for p in i.definition.properties] for i in _index(P.query(ancestor=ndb.Key("P", 1)).order(P.name))],
    "two_ineq": lambda: err(lambda: ids(P.query(P.score > 0, P.name > "a"))),
    "page": lambda: _pages(P.query(P.score > 0), 2),
    "page_proj": lambda: _pages(P.query(projection=[P.tags]), 2),
    "keys_only_ineq": lambda: [k.id() for k in P.query(P.score >= 3).fetch(keys_only=True)],
    "kindless_key": lambda: [k.id() for k in ndb.Query(filters=ndb.FilterNode("__key__", ">", ndb.Key("M", 17))).fetch(keys_only=True)],
    "kindless_desc_err": lambda: err(lambda: ndb.Query().order(-ndb.GenericProperty("__key__")).fetch()),
    "ancestor_ineq": lambda: _ancestor(),
    "gql": lambda: [e.key.id() for e in ndb.gql("SELECT * FROM P WHERE score >= 3")],
    "gql_proj": lambda: [(e.key.id(), e.tags) for e in ndb.gql("SELECT tags FROM P WHERE tags > 'b'")],
    "gql_distinct": lambda: [e.score for e in ndb.gql("SELECT DISTINCT score FROM P")],
    "prop_ancestor": lambda: [k.id() for k in metadata.Property.query(ancestor=metadata.Property.key_for_property("P", "tags")).fetch(keys_only=True)],
    "kinds_ns": lambda: metadata.get_kinds() and [k.id() for k in metadata.Kind.query(namespace="ns1").fetch(keys_only=True)],
    "keys_mixed": lambda: [k.id() for k in P.query().order(P.key).fetch(keys_only=True)],
    "keys_desc": lambda: [k.id() for k in P.query().order(-P.key).fetch(keys_only=True)],
    "key_ineq": lambda: [k.id() for k in P.query(P.key > ndb.Key("P", 2)).fetch(keys_only=True)],
    "key_ineq_name": lambda: [k.id() for k in P.query(P.key < ndb.Key("P", "a")).fetch(keys_only=True)],
    "key_eq_order": lambda: ids(P.query(P.key == ndb.Key("P", 3)).order(-P.score)),
    "null_eq": lambda: ids(P.query(P.when == None)),  # noqa: E711
    "null_lt": lambda: ids(P.query(P.when > None)),  # noqa: E711
    "limit0": lambda: ids(P.query(), limit=0),
    "end_cursor": lambda: _end_cursor(),
    "reverse_cursor": lambda: _reverse(),
    "struct": lambda: _struct(),
    "empty_list_eq": lambda: ids(P.query(P.tags == None)),  # noqa: E711
    "bool_order": lambda: _bools(),
    "ineq_and_eq_list": lambda: ids(P.query(P.tags == "m", P.tags > "n")),
    "list_two_eq": lambda: ids(P.query(P.tags == "m", P.tags == "z")),
    "in_list": lambda: ids(P.query(P.tags.IN(["q", "z"]))),
    "in_list_order": lambda: ids(P.query(P.tags.IN(["q", "z"])).order(P.tags)),
    "count_ineq": lambda: P.query(P.score > 1).count(),
    "count_limit": lambda: P.query().count(limit=2),
    "offset_big": lambda: ids(P.query(), offset=10),
    "get_by_ineq": lambda: P.query(P.name > "jo").get().key.id(),
    "proj_key_order": lambda: [(e.key.id(), e.score) for e in P.query().order(-P.key).fetch(projection=[P.score])],
    "proj_f": lambda: [(e.key.id(), e.f) for e in P.query().fetch(projection=[P.f])],
    "proj_where": lambda: [(e.key.id(), e.where) for e in P.query().fetch(projection=[P.where])],
    "mc_add_twice": lambda: (memcache.add("a1", 1), memcache.add("a1", 2), memcache.get("a1")),
    "mc_replace_missing": lambda: (memcache.replace("r1", 1), memcache.get("r1")),
    "mc_multi": lambda: (memcache.set_multi({"x1": 1, "x2": "two"}), memcache.get_multi(["x1", "x2", "x3"])),
    "mc_offset_multi": lambda: memcache.offset_multi({"om1": 1, "om2": -1}, initial_value=5),
    "mc_incr_str": lambda: (memcache.set("s1", "abc"), memcache.incr("s1")),
    "mc_incr_float": lambda: (memcache.set("fl", 1.5), memcache.incr("fl")),
    "mc_incr_big": lambda: (memcache.set("bg", 2 ** 64), memcache.incr("bg")),
    "mc_delete_multi": lambda: (memcache.set("d1", 1), memcache.delete_multi(["d1", "d2"])),
    "mc_ns": lambda: (memcache.set("k", 1, namespace="a"), memcache.get("k", namespace="b"), memcache.get("k", namespace="a")),
    "db_ineq": lambda: [e.key().id_or_name() for e in DbP.all().filter("score >", 0)],
    "db_ne": lambda: [e.key().id_or_name() for e in DbP.all().filter("name !=", "joe")],
    "db_in": lambda: [e.key().id_or_name() for e in DbP.all().filter("score IN", [5, 1]).order("-score")],
    "db_proj": lambda: [(e.key().id_or_name(), e.tags) for e in DbP.all(projection=["tags"])],
    "db_distinct": lambda: [e.score for e in DbP.all(projection=["score"], distinct=True)],
    "db_gql_order": lambda: [e.key().id_or_name() for e in db.GqlQuery("SELECT * FROM P WHERE score > :1 ORDER BY score DESC", 1)],
    "db_gql_key": lambda: [k.id_or_name() for k in db.GqlQuery("SELECT __key__ FROM P WHERE __key__ > KEY('P', 2)")],
    "db_gql_ancestor": lambda: [k.id_or_name() for k in db.GqlQuery("SELECT __key__ FROM P WHERE ANCESTOR IS KEY('R', 1) ORDER BY score")],
    "db_count": lambda: DbP.all().filter("tags >", "b").count(),
    "db_cursor": lambda: _db_cursor(),
    "db_get_geopt": lambda: str(DbP.get_by_id(2).where),
    "db_user": lambda: DbP.get_by_id(1).who.email(),
    "db_metadata_kinds": lambda: db_metadata.get_kinds(),
    "db_metadata_props": lambda: db_metadata.get_properties_of_kind("P"),
    "txn_ancestor_query": lambda: _txn_query(),
    "kindless_ancestor": lambda: [k.id() for k in ndb.Query(ancestor=ndb.Key("R", 1)).fetch(keys_only=True)],
    "kindless_ancestor_desc_err": lambda: err(lambda: ndb.Query(ancestor=ndb.Key("R", 1)).order(-ndb.GenericProperty("__key__")).fetch()),
    "ineq_ne_and_order": lambda: ids(P.query(P.score != 3).order(-P.score)),
    "text_filter": lambda: _text(),
    "proj_and_order_other": lambda: err(lambda: [(e.key.id(), e.score) for e in P.query().order(P.name).fetch(projection=[P.score])]),
    "alloc": lambda: _alloc(),
    "mc_cas_ok": lambda: _cas_ok(),
    "mc_stats_after_delete": lambda: (memcache.flush_all(), memcache.set("ab", b"c"), memcache.delete("ab", seconds=30), {k: v for k, v in memcache.get_stats().items() if k != "oldest_item_age"}),
    "mc_neg": lambda: (memcache.set("n", -5), memcache.incr("n"), memcache.decr("n"), memcache.get("n")),
    "mc_wrap": lambda: (memcache.set("w", 2**64 - 1), memcache.incr("w"), memcache.set("d", 3), memcache.decr("d", 10)),
    "mc_missing": lambda: (memcache.incr("nokey"), memcache.incr("nokey2", initial_value=5)),
    "mc_lock": lambda: (memcache.set("k", "v"), memcache.delete("k", seconds=100), memcache.get("k"), memcache.add("k", 1), memcache.replace("k", 2), memcache.incr("k", initial_value=1), memcache.set("k", 3), memcache.get("k")),
    "mc_lock_delete_twice": lambda: (memcache.set("k2", "v"), memcache.delete("k2", seconds=100), memcache.delete("k2"), memcache.add("k2", 1)),
    "mc_stats": lambda: (memcache.flush_all(), memcache.set("abc", b"12345"), memcache.get("abc"), memcache.get("zz"), {k: v for k, v in memcache.get_stats().items() if k != "oldest_item_age"}),
    "mc_cas": lambda: _cas(),
}


def _cas():
    c = memcache.Client()
    c.set("c", 1)
    c.gets("c")
    c.delete("c", seconds=50)
    return c.cas("c", 2), c.get("c")


def _pages(q, size):
    out, cursor, more = [], None, True
    while more:
        page, cursor, more = q.fetch_page(size, start_cursor=cursor)
        out.append([(e.key.id(), getattr(e, "tags", None) if q.projection else None) for e in page])
    return out


def _ancestor():
    root = ndb.Key("R", 1)
    ndb.put_multi([P(parent=root, id=i, score=s) for i, s in ((10, 7), (11, 2), (12, 9))])
    return ids(P.query(P.score > 1, ancestor=root))


def _end_cursor():
    _, cur, _ = P.query().order(P.score).fetch_page(2)
    return ids(P.query().order(P.score), end_cursor=cur)


def _reverse():
    q = P.query().order(P.score, P.key)
    _, cur, _ = q.fetch_page(3)
    rq = P.query().order(-P.score, -P.key)
    return ids(rq, start_cursor=cur.reversed())


class Addr(ndb.Model):
    city = ndb.StringProperty()
    zips = ndb.IntegerProperty()


class Holder(ndb.Model):
    addrs = ndb.StructuredProperty(Addr, repeated=True)


def _struct():
    ndb.put_multi([Holder(id=1, addrs=[Addr(city="a", zips=1), Addr(city="b", zips=2)]),
                   Holder(id=2, addrs=[Addr(city="b", zips=3)])])
    return (ids(Holder.query(Holder.addrs.city == "b").order(Holder.key)),
            ids(Holder.query(Holder.addrs == Addr(city="a", zips=1))),
            ids(Holder.query().order(-Holder.addrs.city)))


class B(ndb.Model):
    b = ndb.BooleanProperty()
    n = ndb.IntegerProperty()


def _bools():
    ndb.put_multi([B(id=1, b=True, n=1), B(id=2, b=False, n=1), B(id=3, b=None, n=2)])
    return ids(B.query().order(B.b)), ids(B.query(B.b != True).order(B.b))  # noqa: E712


class DbP(db.Model):
    name = db.StringProperty()
    score = db.IntegerProperty()
    tags = db.StringListProperty()
    where = db.GeoPtProperty()
    who = db.UserProperty()
    when = db.DateTimeProperty()
    f = db.FloatProperty()

    @classmethod
    def kind(cls):
        return "P"


def _db_cursor():
    q = DbP.all().filter("score >", 0)
    first = [e.key().id_or_name() for e in q.fetch(2)]
    q2 = DbP.all().filter("score >", 0).with_cursor(q.cursor())
    return first, [e.key().id_or_name() for e in q2.fetch(10)]


def _txn_query():
    @ndb.transactional()
    def inner():
        return ids(P.query(P.score > 1, ancestor=ndb.Key("R", 1)))
    return inner()


class T(ndb.Model):
    t = ndb.TextProperty()
    s = ndb.StringProperty()


def _text():
    T(id=1, t="x", s="x").put()
    return ids(T.query(ndb.GenericProperty("t") == "x")), ids(T.query(T.s == "x"))


def _alloc():
    a, b = P.allocate_ids(3)
    return b - a


def _cas_ok():
    c = memcache.Client()
    c.set("co", 1)
    c.gets("co")
    first = c.cas("co", 2)
    c.gets("co")
    c.set("co", 5)
    return first, c.cas("co", 3), c.get("co")


def _index(q):
    it = q.iter()
    list(it)
    return it.index_list()


def run_all() -> Dict[str, Any]:
    seed()
    out = {}
    for name, fn in SCENARIOS.items():
        out[name] = err(fn)
    return out
