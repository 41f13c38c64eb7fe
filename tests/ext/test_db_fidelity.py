"""gae_emu.ext.db answers as App Engine's db: the query order of production (shared with the API
server, in services/datastore), GeoPt and User properties, projection and distinct queries, and
Expando's dynamic properties."""
from __future__ import annotations

import datetime

import pytest

from gae_emu import apiproxy
from gae_emu.api import users
from gae_emu.ext import db
from gae_emu.ext.db import metadata
from gae_emu.services.datastore import Query
from gae_emu.services.users import user_id_for

from .test_db import make_services


@pytest.fixture
def services(tmp_path):
    services = make_services(tmp_path / "db.sqlite3")
    apiproxy.install(services)
    yield services
    apiproxy.uninstall(services)
    services.storage.close()


class Person(db.Model):
    name = db.StringProperty()
    score = db.IntegerProperty()
    tags = db.StringListProperty()
    where = db.GeoPtProperty()
    who = db.UserProperty()


@pytest.fixture
def people(services):
    db.put([Person(key_name="a", name="joe", score=1, tags=["m", "z"], where=db.GeoPt(50, 1),
                   who=users.User("joe@example.com")),
            Person(key_name="b", name="jill", score=5, tags=["a", "q"], where=db.GeoPt("-33.5,18.25"),
                   who=users.User("jill@example.com")),
            Person(key_name="c", name="zed", score=3, tags=["k"], where=db.GeoPt(50, -2),
                   who=users.User("joe@example.com"))])


def test_inequalities_order_by_their_property_and_the_first_sort_rule(people):
    assert [p.name for p in Person.all().filter("name <=", "joe")] == ["jill", "joe"]
    assert [p.score for p in Person.all().filter("score >", 0)] == [1, 3, 5]
    assert [p.score for p in Person.all().filter("score !=", 3)] == [1, 5]
    assert Person.all().filter("score >", 0).get().score == 1
    with pytest.raises(db.BadArgumentError, match="First ordering property must be the same as inequality"):
        Person.all().filter("score >", 0).order("name").fetch(10)  # db's own check, as App Engine's db
    assert [p.name for p in Person.all().order("tags")] == ["jill", "zed", "joe"]
    assert [p.name for p in Person.all().order("-tags")] == ["joe", "jill", "zed"]


def test_geopt_and_user_properties(people):
    got = Person.get_by_key_name("b")
    assert got.where == db.GeoPt(-33.5, 18.25) and isinstance(got.where, db.GeoPt)
    assert got.who == users.User("jill@example.com") and got.who.user_id() == user_id_for("jill@example.com")
    assert [p.key().name() for p in Person.all().order("where")] == ["b", "c", "a"]
    assert [p.key().name() for p in Person.all().filter("where >", db.GeoPt(0, 0))] == ["c", "a"]
    assert sorted(p.key().name() for p in Person.all().filter("who =", users.User("joe@example.com"))) == ["a", "c"]
    with pytest.raises(db.BadValueError, match="Latitude must be between -90 and 90"):
        db.GeoPt(91, 0)
    with pytest.raises(db.BadValueError):
        Person(where=(1, 2))


def test_projection_and_distinct(people):
    got = Person.all(projection=("name", "score")).fetch(10)
    assert [(p.name, p.score) for p in got] == [("jill", 5), ("joe", 1), ("zed", 3)]
    assert got[0].tags is None  # not projected: unset
    with pytest.raises(db.BadRequestError, match="Cannot put a partial entity"):
        got[0].put()
    assert [p.tags for p in Person.all(projection=("tags",))] == [["a"], ["k"], ["m"], ["q"], ["z"]]
    who = Person.all(projection=("who",), distinct=True).fetch(10)
    assert [p.who.email() for p in who] == ["jill@example.com", "joe@example.com"]
    with pytest.raises(db.BadRequestError, match="cannot use projection on a property with an equality filter"):
        Person.all(projection=("name",)).filter("name =", "joe").fetch(10)
    with pytest.raises(db.BadQueryError):
        Person.all(distinct=True)


class Thing(db.Expando):
    label = db.StringProperty()


def test_expando_dynamic_properties(services):
    thing = Thing(key_name="t", label="x", color="red", sizes=[3, 1], note=db.Text("long"), at=db.GeoPt(1, 2),
                  owner=users.User("o@example.com"))
    thing.weight = 2.5
    thing.put()
    got = Thing.get_by_key_name("t")
    assert sorted(got.dynamic_properties()) == ["at", "color", "note", "owner", "sizes", "weight"]
    assert (got.label, got.color, got.sizes, got.weight, got.at) == ("x", "red", [3, 1], 2.5, db.GeoPt(1, 2))
    assert got.owner.email() == "o@example.com"
    assert [t.key().name() for t in Thing.all().filter("color =", "red")] == ["t"]
    assert [t.key().name() for t in Thing.all().order("weight")] == ["t"]
    assert list(Thing.all().filter("note =", "long")) == []  # a Text value is never indexed
    del got.color
    got.put()
    assert not hasattr(Thing.get_by_key_name("t"), "color")
    with pytest.raises(db.BadValueError, match="Unsupported type for property day"):
        thing.day = datetime.date(2020, 1, 1)


def test_metadata(people, services):
    Thing(key_name="t", label="x", size=3).put()
    Thing(key_name="u", label="y", namespace_hint="n").put()
    other = Thing(key=db.Key.from_path("Thing", "v", namespace="other"), label="z")
    other.put()
    assert metadata.get_kinds() == ["Person", "Thing"]
    assert metadata.get_kinds(start="Q") == ["Thing"]
    assert metadata.get_kinds(namespace="other") == ["Thing"]
    assert metadata.get_namespaces() == ["", "other"]
    assert metadata.get_properties_of_kind("Person") == ["name", "score", "tags", "where", "who"]
    assert metadata.get_properties_of_kind("Person", start="t", end="w") == ["tags"]
    assert metadata.get_representations_of_kind("Person") == {
        "name": ["STRING"], "score": ["INT64"], "tags": ["STRING"], "where": ["POINT"], "who": ["USER"]}
    key = Person.get_by_key_name("a").key()
    first = metadata.get_entity_group_version(key)
    Person.get_by_key_name("a").put()
    assert metadata.get_entity_group_version(key) > first
    assert metadata.get_entity_group_version(db.Key.from_path("Person", "never")) is None
    services_query = services.datastore.run_query(Query(kind="__kind__", app="dev~test", keys_only=True))
    assert [k.key.name() for k in services_query.entities] == ["Person", "Thing"]
