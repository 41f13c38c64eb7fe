"""Metadata through the API server with Google's ndb and db: `__kind__`, `__namespace__`,
`__property__` (with representations) and `__entity_group__`, as App Engine answers them."""
from __future__ import annotations

from typing import Any

import pytest

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)

from google.appengine.api import datastore_errors  # noqa: E402
from google.appengine.ext import db, ndb  # noqa: E402
from google.appengine.ext.db import metadata as db_metadata  # noqa: E402
from google.appengine.ext.ndb import metadata  # noqa: E402


class Author(ndb.Model):
    name = ndb.StringProperty()
    age = ndb.IntegerProperty()
    bio = ndb.TextProperty()


class Book(ndb.Expando):
    pass


@pytest.fixture
def stored(google_api: Any) -> None:
    Author(id=1, name="ann", age=40, bio="long").put()
    Book(id=1, title="x", pages=10).put()
    Book(id=2, title="y", pages="many", year=None).put()
    Book(id=3, namespace="archive", title="old").put()


def test_kinds_namespaces_and_properties_written(stored: None) -> None:
    assert metadata.get_kinds() == ["Author", "Book"]
    assert metadata.get_kinds(start="B") == ["Book"]
    assert metadata.get_kinds(end="B") == ["Author"]
    assert metadata.get_namespaces() == ["", "archive"]
    assert metadata.get_namespaces(start="a") == ["archive"]
    # Unindexed properties (bio, a TextProperty) are not in the index, so not in __property__.
    assert metadata.get_properties_of_kind("Author") == ["age", "name"]
    assert metadata.get_properties_of_kind("Book") == ["pages", "title", "year"]
    assert metadata.get_properties_of_kind("Book", start="q", end="z") == ["title", "year"]
    assert metadata.get_representations_of_kind("Book") == {
        "pages": ["INT64", "STRING"], "title": ["STRING"], "year": ["NULL"]}
    assert [k.id() for k in metadata.Kind.query(namespace="archive").fetch(keys_only=True)] == ["Book"]
    assert db_metadata.get_kinds() == ["Author", "Book"]
    assert [k.name() for k in db.GqlQuery("SELECT __key__ FROM __kind__")] == ["Author", "Book"]


def test_metadata_queries_refuse_what_production_refuses(stored: None) -> None:
    with pytest.raises(datastore_errors.BadRequestError, match="Only comparison filters on __key__"):
        metadata.Kind.query(ndb.GenericProperty("x") == 1).fetch()
    with pytest.raises(datastore_errors.BadRequestError, match="Only ascending order on __key__"):
        metadata.Kind.query().order(-metadata.Kind.key).fetch()
    with pytest.raises(datastore_errors.BadRequestError, match="ancestor queries on __kind__ not allowed"):
        metadata.Kind.query(ancestor=ndb.Key("__kind__", "Book")).fetch()
    with pytest.raises(datastore_errors.BadRequestError, match="queries not supported on __entity_group__"):
        metadata.EntityGroup.query().fetch()


def test_the_entity_group_version_rises_with_each_write(google_api: Any) -> None:
    root = ndb.Key("Author", 7)
    assert metadata.get_entity_group_version(root) is None  # never written
    Author(key=root, name="a").put()
    first = metadata.get_entity_group_version(root)
    Book(key=ndb.Key("Book", 1, parent=root)).put()  # a child write changes the group too
    second = metadata.get_entity_group_version(ndb.Key("Book", 1, parent=root))
    root.delete()
    third = metadata.get_entity_group_version(root)
    assert 0 < first < second < third
    other = ndb.Key("Author", 8)
    Author(key=other).put()
    assert metadata.get_entity_group_version(root) == third

    @ndb.transactional()
    def bump() -> int:
        seen = metadata.get_entity_group_version(root)
        Author(key=root, name="again").put()
        return seen

    assert bump() == third
    assert metadata.get_entity_group_version(root) > third
