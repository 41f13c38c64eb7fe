"""For `test_db_against_google`: the same classic-db calls, run with Google's
`google.appengine.ext.db` and with gae-emu's `gae_emu.ext.db`: `run_all(db, metadata, users)` seeds
data and answers every scenario."""
from __future__ import annotations

import datetime
from typing import Any, Dict


def _err(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as exc:  # the error's class name and message are part of the answer
        return (type(exc).__name__, str(exc)[:100])


def run_all(db: Any, metadata: Any, users: Any) -> Dict[str, Any]:
    class Person(db.Model):
        name = db.StringProperty()
        score = db.IntegerProperty()
        tags = db.StringListProperty()
        where = db.GeoPtProperty()
        who = db.UserProperty()
        when = db.DateTimeProperty()

    class Thing(db.Expando):
        label = db.StringProperty()

    db.put([Person(key_name="a", name="joe", score=1, tags=["m", "z"], where=db.GeoPt(50, 1),
                   who=users.User("b@x.com"), when=datetime.datetime(1960, 1, 1)),
            Person(key_name="b", name="jill", score=5, tags=["a", "q"], where=db.GeoPt(-3, 1),
                   who=users.User("a@x.com")),
            Person(key_name="c", name="zed", score=3, tags=["k"], where=db.GeoPt(50, -2), who=users.User("b@x.com")),
            Person(key_name="d", name="ann", score=3)])
    t = Thing(key_name="t", label="x")
    t.color, t.size, t.ratio, t.at = "red", 3, 2.5, db.GeoPt(1, 2)
    t.put()

    def names(q: Any) -> Any:
        return [p.key().name() for p in q]

    scenarios = {
        "ineq_name": lambda: names(Person.all().filter("name <=", "joe")),
        "ineq_score": lambda: names(Person.all().filter("score >", 0)),
        "ineq_desc": lambda: names(Person.all().filter("score >", 0).order("-score")),
        "ne": lambda: names(Person.all().filter("name !=", "joe").order("name")),
        "ne_keys_only": lambda: _err(lambda: list(Person.all(keys_only=True).filter("name !=", "joe"))),
        "in_keys_only": lambda: _err(lambda: list(Person.all(keys_only=True).filter("name IN", ["a"]))),
        "first_sort_eq": lambda: _err(lambda: names(Person.all().filter("score >", 0).filter("name =", "joe").order("name"))),
        "in": lambda: names(Person.all().filter("score IN", [3, 1])),
        "first_sort": lambda: _err(lambda: names(Person.all().filter("score >", 0).order("name"))),
        "tags_asc": lambda: names(Person.all().order("tags")),
        "tags_desc": lambda: names(Person.all().order("-tags")),
        "tags_range": lambda: names(Person.all().filter("tags >", "b").filter("tags <", "y")),
        "offset": lambda: names(Person.all().filter("score >", 0).fetch(2, 1)),
        "get": lambda: Person.all().filter("score >", 1).get().key().name(),
        "count": lambda: Person.all().filter("tags >", "b").count(),
        "where": lambda: names(Person.all().order("where")),
        "where_gt": lambda: names(Person.all().filter("where >", db.GeoPt(0, 0))),
        "who": lambda: names(Person.all().order("-who")),
        "who_eq": lambda: names(Person.all().filter("who =", users.User("b@x.com"))),
        "who_email": lambda: Person.get_by_key_name("b").who.email(),
        "geopt": lambda: str(Person.get_by_key_name("c").where),
        "when": lambda: names(Person.all().order("when")),
        "proj": lambda: [(p.key().name(), p.name, p.score) for p in Person.all(projection=["name", "score"])],
        "proj_tags": lambda: [(p.key().name(), p.tags) for p in Person.all(projection=["tags"])],
        "proj_unset": lambda: [p.when for p in Person.all(projection=["score"])],
        "proj_put": lambda: _err(lambda: Person.all(projection=["score"]).get().put())[1][0],
        "proj_eq": lambda: _err(lambda: list(Person.all(projection=["name"]).filter("name =", "joe"))),
        "distinct": lambda: [p.score for p in Person.all(projection=["score"], distinct=True)],
        "distinct_who": lambda: [p.who.email() for p in Person.all(projection=["who"], distinct=True)],
        "cursor": lambda: _cursor(Person),
        "expando": lambda: sorted(Thing.get_by_key_name("t").dynamic_properties()),
        "expando_values": lambda: (lambda g: (g.color, g.size, g.ratio, str(g.at)))(Thing.get_by_key_name("t")),
        "expando_filter": lambda: names(Thing.all().filter("color =", "red")),
        "expando_order": lambda: names(Thing.all().order("size")),
        "kinds": lambda: metadata.get_kinds(),
        "namespaces": lambda: metadata.get_namespaces(),
        "props": lambda: metadata.get_properties_of_kind("Person"),
        "reps": lambda: metadata.get_representations_of_kind("Person"),
        "reps_thing": lambda: metadata.get_representations_of_kind("Thing"),
    }
    return {name: _err(fn) for name, fn in scenarios.items()}


def _cursor(Person: Any) -> Any:
    q = Person.all().filter("score >", 0)
    first = [p.key().name() for p in q.fetch(2)]
    rest = Person.all().filter("score >", 0).with_cursor(q.cursor())
    return first, [p.key().name() for p in rest.fetch(10)]
