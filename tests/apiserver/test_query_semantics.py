"""Query order and filter semantics as App Engine answers them, through the API server with Google's
own ndb, db and GQL: inequality filters order by their property, the first-sort rule, list
properties, IN and != as the libraries split them, cursors and offsets along those orders, and the
order of values of mixed types (Google's stub's order)."""
from __future__ import annotations

import datetime
from typing import Any

import pytest

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)

from google.appengine.api import datastore_errors, datastore_types  # noqa: E402
from google.appengine.ext import db, ndb  # noqa: E402


class P(ndb.Model):
    name = ndb.StringProperty()
    score = ndb.IntegerProperty()
    tags = ndb.StringProperty(repeated=True)


class DbP(db.Model):
    name = db.StringProperty()
    score = db.IntegerProperty()

    @classmethod
    def kind(cls) -> str:
        return "P"


@pytest.fixture
def people(google_api: Any) -> None:
    # Ids chosen so key order differs from name and score order.
    ndb.put_multi([P(id=1, name="joe", score=1, tags=["m", "z"]), P(id=2, name="jill", score=5, tags=["a", "q"]),
                   P(id=3, name="zed", score=3, tags=["k"])])


def test_an_inequality_orders_by_its_property_not_by_key(people: None) -> None:
    assert [p.name for p in P.query(P.name <= "joe").fetch()] == ["jill", "joe"]
    assert [p.score for p in P.query(P.score > 0).fetch()] == [1, 3, 5]
    assert P.query(P.score > 0).get().score == 1
    assert [p.score for p in P.query(P.score > 0).fetch(offset=1)] == [3, 5]


def test_the_same_orders_through_db_and_gql(people: None) -> None:
    assert [p.name for p in DbP.all().filter("name <=", "joe")] == ["jill", "joe"]
    assert [p.score for p in DbP.all().filter("score >", 0)] == [1, 3, 5]
    assert [p.score for p in db.GqlQuery("SELECT * FROM P WHERE score > 0")] == [1, 3, 5]
    assert [p.name for p in ndb.gql("SELECT * FROM P WHERE name <= 'joe'")] == ["jill", "joe"]


def test_first_sort_on_another_property_is_refused(people: None) -> None:
    with pytest.raises(datastore_errors.BadRequestError, match="The first sort property must be the same as the "
                       "property to which the inequality filter is applied"):
        P.query(P.score > 0).order(P.name).fetch()
    # An order on an equality-filtered property is dropped before the rule applies (as in production).
    assert [p.score for p in P.query(P.score > 0, P.name == "joe").order(P.name).fetch()] == [1]
    assert [p.score for p in P.query(P.score > 0).order(-P.score).fetch()] == [5, 3, 1]


def test_list_properties_sort_by_min_ascending_max_descending_and_come_back_once(people: None) -> None:
    # joe [m, z], jill [a, q], zed [k]: ascending by smallest (a, k, m), descending by largest (z, q, k).
    assert [p.name for p in P.query().order(P.tags).fetch()] == ["jill", "zed", "joe"]
    assert [p.name for p in P.query().order(-P.tags).fetch()] == ["joe", "jill", "zed"]
    # An inequality sorts by the values it lets through: joe by m, jill by q.
    assert [p.name for p in P.query(P.tags > "l").fetch()] == ["joe", "jill"]
    assert [p.name for p in P.query(P.tags > "b", P.tags < "y").fetch()] == ["zed", "joe", "jill"]
    assert [p.name for p in P.query(P.tags.IN(["m", "z", "q"])).fetch()] == ["joe", "jill"]


def test_in_and_not_equal_as_the_library_splits_them(people: None) -> None:
    assert [p.name for p in P.query(P.name != "joe").fetch()] == ["jill", "zed"]
    assert [p.score for p in P.query(P.score.IN([5, 1])).order(P.score).fetch()] == [1, 5]
    assert [p.score for p in DbP.all().filter("score !=", 3)] == [1, 5]


def test_cursors_follow_the_inequality_order(people: None) -> None:
    first, cursor, more = P.query(P.score > 0).fetch_page(2)
    assert [p.score for p in first] == [1, 3] and more
    rest, _, _ = P.query(P.score > 0).fetch_page(2, start_cursor=cursor)
    assert [p.score for p in rest] == [5]


class Mixed(ndb.Expando):
    pass


def test_values_of_mixed_types_sort_in_the_stubs_order(google_api: Any) -> None:
    key = ndb.Key("Other", 1)
    values = [key, 2.5, float("-inf"), -0.0, 0.0, "b", b"a", True, False, 7, -3, None,
              datetime.datetime(1969, 12, 31, 23, 59, 59), ndb.GeoPt(1, 2), datastore_types.Blob(b"x")]
    entities = []
    for i, value in enumerate(values, start=1):
        e = Mixed(id=i)
        e.v = value
        entities.append(e)
    ndb.put_multi(entities)
    got = [e.v for e in Mixed.query().order(ndb.GenericProperty("v")).fetch()]
    # Datetimes sort among integers (as microseconds: 1969 is -1000000); unicode and byte strings
    # together by their bytes; -0.0 before 0.0; points before keys.
    expected = [None, datetime.datetime(1969, 12, 31, 23, 59, 59), -3, 7, False, True, b"a", "b", b"x",
                float("-inf"), -0.0, 0.0, 2.5, ndb.GeoPt(1, 2), key]
    assert got == expected
    assert str(got[10]) == "-0.0" and str(got[11]) == "0.0"
    assert [e.v for e in Mixed.query().order(-ndb.GenericProperty("v")).fetch()] == expected[::-1]
