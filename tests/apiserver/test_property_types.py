"""Every datastore_v3 property value type through the API server with Google's ndb and db: GeoPt
and User (stored, filtered, sorted; the user id derived from the email as Google's stub does),
namespaced references, blob keys, structured properties, integers and floats at their edges and
dates before 1970, each round-tripping through Put, Get and RunQuery."""
from __future__ import annotations

import datetime
from typing import Any

import pytest

from gae_emu.services.users import user_id_for

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)

from google.appengine.api import datastore_types, users  # noqa: E402
from google.appengine.ext import db, ndb  # noqa: E402


class Place(ndb.Model):
    where = ndb.GeoPtProperty()
    who = ndb.UserProperty()


class Inner(ndb.Model):
    a = ndb.IntegerProperty()
    b = ndb.StringProperty(repeated=True)


class Edge(ndb.Model):
    big = ndb.IntegerProperty()
    small = ndb.IntegerProperty()
    f = ndb.FloatProperty(repeated=True)
    old = ndb.DateTimeProperty()
    ref = ndb.KeyProperty()
    blob = ndb.BlobKeyProperty()
    inner = ndb.StructuredProperty(Inner)
    local = ndb.LocalStructuredProperty(Inner)


def test_geopt_and_user_are_stored_filtered_and_sorted(google_api: Any) -> None:
    alice = users.User("alice@example.com", _user_id="forged")
    bob = users.User("bob@example.com")
    ndb.put_multi([Place(id="n", where=ndb.GeoPt(50, 1), who=bob), Place(id="s", where=ndb.GeoPt(-33.5, 18.25), who=alice),
                   Place(id="e", where=ndb.GeoPt(50, -2), who=alice)])
    ndb.get_context().clear_cache()
    south = Place.get_by_id("s")
    assert south.where == ndb.GeoPt(-33.5, 18.25)
    assert south.who.email() == "alice@example.com"
    # Google's stub replaces the user id with one derived from the email.
    assert south.who.user_id() == user_id_for("alice@example.com")
    assert [p.key.id() for p in Place.query().order(Place.where)] == ["s", "e", "n"]
    assert [p.key.id() for p in Place.query(Place.where > ndb.GeoPt(0, 0))] == ["e", "n"]
    assert [p.key.id() for p in Place.query(Place.where == ndb.GeoPt(50, 1))] == ["n"]
    assert sorted(p.key.id() for p in Place.query(Place.who == users.User("alice@example.com"))) == ["e", "s"]
    assert [p.key.id() for p in Place.query().order(-Place.who, Place.key)] == ["n", "e", "s"]


def test_geopt_and_user_through_db(google_api: Any) -> None:
    class DbPlace(db.Model):
        where = db.GeoPtProperty()
        who = db.UserProperty()

    DbPlace(key_name="x", where=db.GeoPt(1.5, 2.5), who=users.User("carol@example.com")).put()
    got = DbPlace.get_by_key_name("x")
    assert got.where == db.GeoPt(1.5, 2.5) and got.who.email() == "carol@example.com"
    assert DbPlace.all().filter("who =", users.User("carol@example.com")).count() == 1
    assert [p.where for p in db.GqlQuery("SELECT * FROM DbPlace WHERE where > GEOPT(1.0, 0.0)")] == [db.GeoPt(1.5, 2.5)]


def test_the_rest_of_the_value_types_round_trip(google_api: Any) -> None:
    ref = ndb.Key("Other", "o", namespace="elsewhere")
    edge = Edge(id=1, big=2 ** 63 - 1, small=-2 ** 63, f=[1.7976931348623157e308, 5e-324, float("inf"), float("-inf")],
                old=datetime.datetime(1900, 1, 2, 3, 4, 5, 6), ref=ref, blob=datastore_types.BlobKey("blob-1"),
                inner=Inner(a=1, b=["x", "y"]), local=Inner(a=2, b=["z"]))
    edge.put()
    ndb.get_context().clear_cache()
    got = Edge.get_by_id(1)
    assert got == edge
    assert got.ref.namespace() == "elsewhere"
    assert Edge.query(Edge.inner.a == 1).get() == edge
    assert Edge.query(Edge.inner.b == "y").get() == edge
    assert Edge.query(Edge.old < datetime.datetime(1970, 1, 1)).get() == edge
    assert Edge.query(Edge.big == 2 ** 63 - 1).get() == edge
    assert Edge.query(Edge.ref == ref).get() == edge
    assert Edge.query(Edge.blob == datastore_types.BlobKey("blob-1")).get() == edge
    assert Edge.query(Edge.f > 1e308).get() == edge
