"""Projection, group_by/distinct and `QueryResult.index` through the API server with Google's ndb,
db and GQL, as App Engine answers them: a list property projects one result per value, projecting
an equality-filtered property is refused, unindexed properties have no index rows, and the index a
query needs is reported."""
from __future__ import annotations

import datetime
from typing import Any

import pytest

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)

from google.appengine.api import datastore_errors  # noqa: E402
from google.appengine.ext import db, ndb  # noqa: E402


class Article(ndb.Model):
    author = ndb.StringProperty()
    title = ndb.StringProperty()
    tags = ndb.StringProperty(repeated=True)
    stars = ndb.IntegerProperty()
    when = ndb.DateTimeProperty()
    body = ndb.TextProperty()


class DbArticle(db.Model):
    author = db.StringProperty()
    stars = db.IntegerProperty()

    @classmethod
    def kind(cls) -> str:
        return "Article"


class Loose(ndb.Expando):
    _default_indexed = False  # dynamic properties (here `big`) are unindexed
    note = ndb.StringProperty()


WHEN = datetime.datetime(2020, 5, 6, 7, 8, 9)


@pytest.fixture
def articles(google_api: Any) -> None:
    ndb.put_multi([
        Article(id=1, author="ann", title="a", tags=["x", "y"], stars=3, when=WHEN, body="b1"),
        Article(id=2, author="bob", title="b", tags=["y"], stars=5, when=WHEN, body="b2"),
        Article(id=3, author="ann", title="c", tags=[], stars=1, when=WHEN, body="b3"),
    ])


def test_projection_returns_index_values_ordered_by_the_projected_properties(articles: None) -> None:
    got = Article.query().fetch(projection=[Article.author, Article.stars])
    assert [(a.author, a.stars) for a in got] == [("ann", 1), ("ann", 3), ("bob", 5)]
    assert [a.key.id() for a in got] == [3, 1, 2]
    with pytest.raises(ndb.UnprojectedPropertyError):
        got[0].title
    assert [a.when for a in Article.query().fetch(projection=[Article.when])] == [WHEN] * 3
    assert [a.stars for a in Article.query(Article.stars > 1).fetch(projection=[Article.stars])] == [3, 5]


def test_a_list_property_projects_one_result_per_value(articles: None) -> None:
    got = Article.query().fetch(projection=[Article.tags])
    assert [(a.key.id(), a.tags) for a in got] == [(1, ["x"]), (1, ["y"]), (2, ["y"])]
    got = Article.query().order(-Article.tags).fetch(projection=[Article.tags])
    assert [(a.key.id(), a.tags) for a in got] == [(1, ["y"]), (2, ["y"]), (1, ["x"])]
    assert Article.query().count(projection=[Article.tags]) == 3


def test_group_by_and_distinct(articles: None) -> None:
    got = Article.query(projection=[Article.author], distinct=True).fetch()
    assert [a.author for a in got] == ["ann", "bob"]
    got = Article.query(group_by=[Article.tags], projection=[Article.tags]).fetch()
    assert [a.tags for a in got] == [["x"], ["y"]]
    assert [a.author for a in ndb.gql("SELECT DISTINCT author FROM Article")] == ["ann", "bob"]
    assert [a.author for a in db.Query(DbArticle, projection=["author"], distinct=True)] == ["ann", "bob"]
    assert [a.stars for a in db.GqlQuery("SELECT stars FROM Article WHERE stars > 1")] == [3, 5]
    with pytest.raises(datastore_errors.BadRequestError, match="group by clause must be specified first"):
        Article.query(projection=[Article.author], group_by=[Article.author]).order(Article.stars).fetch()


def test_projection_errors_and_unindexed_properties(articles: None) -> None:
    with pytest.raises(datastore_errors.BadRequestError,
                       match="cannot use projection on a property with an equality filter"):
        Article.query(Article.author == "ann").fetch(projection=[Article.author])
    # An unindexed or absent property has no index rows, so the server finds nothing to project.
    Loose(id=1, note="indexed", big="unindexed").put()
    query = ndb.Query(kind="Loose")
    assert [x.note for x in query.fetch(projection=["note"])] == ["indexed"]
    assert query.fetch(projection=["big"]) == []
    assert query.fetch(projection=["missing"]) == []
    with pytest.raises(datastore_errors.BadRequestError, match="projections are not supported for the property: __key__"):
        query.fetch(projection=["__key__"])


def test_query_result_index_names_the_composite_index(articles: None) -> None:
    query = Article.query(Article.author == "ann").order(-Article.stars)
    it = query.iter()
    list(it)
    (used,) = it.index_list()
    index = used.definition
    assert used.state == "serving" and index.kind == "Article" and not index.ancestor
    assert [(p.name, p.direction) for p in index.properties] == [("author", "asc"), ("stars", "desc")]
    plain = Article.query(Article.author == "ann").iter()
    list(plain)
    assert plain.index_list() == []  # equality filters alone: built-in indexes
