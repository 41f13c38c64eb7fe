"""gae_emu.ext.db: models, properties, queries and transactions through the services handle."""
from __future__ import annotations

import datetime
import pickle
import threading

import pytest

from gae_emu import apiproxy
from gae_emu.apiproxy import Services
from gae_emu.ext import db
from gae_emu.services.datastore import DatastoreService, Meaning
from gae_emu.storage import Storage


def make_services(path) -> Services:
    storage = Storage(path)
    return Services(app_id="dev~test", storage=storage, datastore=DatastoreService(storage))


@pytest.fixture
def services(tmp_path):
    services = make_services(tmp_path / "db.sqlite3")
    apiproxy.install(services)
    yield services
    apiproxy.uninstall(services)
    services.storage.close()


class MyModel(db.Model):
    total = db.IntegerProperty(default=0)
    name = db.StringProperty()
    body = db.TextProperty()
    data = db.BlobProperty()
    short = db.ByteStringProperty()
    ratio = db.FloatProperty()
    flag = db.BooleanProperty()
    when = db.DateTimeProperty()
    day = db.DateProperty()
    tags = db.StringListProperty()
    numbers = db.ListProperty(int)
    created = db.DateTimeProperty(auto_now_add=True)
    updated = db.DateTimeProperty(auto_now=True)


class Author(db.Model):
    name = db.StringProperty(required=True)
    level = db.StringProperty(choices=["junior", "senior"])


class Book(db.Model):
    title = db.StringProperty()
    author = db.ReferenceProperty(Author, collection_name="books")
    year = db.IntegerProperty()


def test_seed_example(services):
    my_key = MyModel(total=1).put()

    def do_something_later(key, amount):
        entity = MyModel.get(key)
        entity.total += amount
        entity.put()

    do_something_later(pickle.loads(pickle.dumps(my_key)), 20)
    assert MyModel.get(my_key).total == 21


def test_keys(services):
    parent = db.Key.from_path("Author", "ann")
    key = db.Key.from_path("Book", 5, parent=parent)
    assert key.app() == "dev~test" and key.namespace() == "" and key.parent() == parent
    assert (key.kind(), key.id(), key.name(), key.id_or_name()) == ("Book", 5, None, 5)
    assert db.Key(str(key)) == key and pickle.loads(pickle.dumps(key)) == key
    assert db.Key.from_path("A", 1, namespace="ns") != db.Key.from_path("A", 1)
    with pytest.raises(db.BadArgumentError):
        db.Key.from_path("A")
    with pytest.raises(db.BadKeyError):
        db.Key("%%%")


def test_every_property_round_trips(services):
    when = datetime.datetime(2020, 2, 3, 4, 5, 6, 789)
    m = MyModel(name="n", body="long text", data=b"\x00\x01", short=b"ab", ratio=1.5, flag=False, when=when,
                day=datetime.date(2020, 1, 2), tags=["x", "y"], numbers=[3, 1], total=0)
    key = m.put()
    got = MyModel.get(key)
    assert (got.name, got.body, got.data, got.short, got.ratio, got.flag, got.when, got.day, got.tags,
            got.numbers, got.total) == ("n", "long text", b"\x00\x01", b"ab", 1.5, False, when,
                                        datetime.date(2020, 1, 2), ["x", "y"], [3, 1], 0)
    assert isinstance(got.body, db.Text) and isinstance(got.data, db.Blob) and isinstance(got.short, db.ByteString)
    entity = services.datastore.get([key])[0]
    assert entity.properties["body"].values[0].meaning == Meaning.TEXT
    assert not entity.properties["body"].values[0].indexed
    assert entity.properties["data"].values[0].meaning == Meaning.BLOB
    assert entity.properties["short"].values[0].meaning == Meaning.BYTESTRING
    assert entity.properties["name"].values[0].indexed


def test_bad_values_name_the_property(services):
    with pytest.raises(db.BadValueError, match="Property total must be an int or long, not a str"):
        MyModel(total="5")
    with pytest.raises(db.BadValueError, match="Property name is 1501 bytes long; it must be 1500 or less."):
        MyModel(name="x" * 1501)
    with pytest.raises(db.BadValueError, match="Property name is not multi-line"):
        MyModel(name="a\nb")
    with pytest.raises(db.BadValueError, match="Property name is required"):
        Author()
    with pytest.raises(db.BadValueError, match="Property level is 'boss'; must be one of"):
        Author(name="a", level="boss")
    with pytest.raises(db.BadValueError, match="Items in the numbers list must all be integers."):
        MyModel(numbers=["1"])
    with pytest.raises(db.BadValueError, match="Property ratio must be a float"):
        MyModel(ratio=1)


def test_validator_and_not_saved(services):
    def positive(value):
        if value is not None and value < 0:
            raise db.BadValueError("negative")

    class Counter(db.Model):
        n = db.IntegerProperty(validator=positive)

    with pytest.raises(db.BadValueError, match="negative"):
        Counter(n=-1)
    with pytest.raises(db.NotSavedError):
        Counter().key()
    c = Counter(n=1)
    assert not c.is_saved()
    c.put()
    assert c.is_saved() and c.key().id() is not None


def test_auto_now(services, monkeypatch):
    times = iter([datetime.datetime(2020, 1, 1), datetime.datetime(2020, 1, 2), datetime.datetime(2020, 1, 3)])
    monkeypatch.setattr(db.DateTimeProperty, "now", staticmethod(lambda: next(times)))
    m = MyModel()  # created default (auto_now_add) and updated default (auto_now)
    m.put()  # updated refreshed
    assert m.created == datetime.datetime(2020, 1, 1) and m.updated == datetime.datetime(2020, 1, 3)


def test_get_by_id_name_and_get_or_insert(services):
    parent = Author(key_name="ann", name="Ann")
    parent.put()
    book = Book(parent=parent, title="T")
    book.put()
    assert Book.get_by_id(book.key().id(), parent=parent).title == "T"
    assert Author.get_by_key_name("ann").name == "Ann"
    assert Author.get_by_key_name(["ann", "nobody"])[1] is None
    first = Author.get_or_insert("bob", name="Bob")
    second = Author.get_or_insert("bob", name="Other")
    assert first.key() == second.key() and second.name == "Bob"
    with pytest.raises(db.KindError):
        Book.get(parent.key())


def test_batch_put_get_delete(services):
    models = [MyModel(total=i) for i in range(3)]
    keys = db.put(models)
    assert [m.total for m in db.get(keys)] == [0, 1, 2]
    db.delete(models[:2])
    assert db.get(keys)[:2] == [None, None]
    models[2].delete()
    assert MyModel.get(keys[2]) is None
    start, end = db.allocate_ids(keys[0], 5)
    assert end - start == 4 and start > keys[2].id()


def test_reference_and_back_reference(services):
    ann = Author(name="Ann")
    ann.put()
    Book(title="A", author=ann, year=2000).put()
    Book(title="B", author=ann.key(), year=2001).put()
    books = ann.books.order("title").fetch(10)
    assert [b.title for b in books] == ["A", "B"] and books[1].author.name == "Ann"


def test_queries(services):
    for i, title in enumerate(["c", "a", "b", "d"]):
        Book(title=title, year=2000 + i).put()
    q = Book.all().filter("year >=", 2001).order("year")
    assert [b.title for b in q.fetch(10)] == ["a", "b", "d"]
    assert [b.title for b in Book.all().order("-title").fetch(2, offset=1)] == ["c", "b"]
    assert Book.all().filter("title =", "b").get().year == 2002
    assert Book.all().filter("title", "zz").get() is None
    assert Book.all().count() == 4 and Book.all().filter("year <", 2002).count() == 2
    keys = Book.all(keys_only=True).order("title").fetch(10)
    assert all(isinstance(k, db.Key) for k in keys)
    assert sorted(b.title for b in Book.all().filter("title in", ["a", "d"])) == ["a", "d"]
    assert sorted(b.title for b in Book.all().filter("title !=", "a")) == ["b", "c", "d"]
    page = Book.all().order("title")
    assert [b.title for b in page.fetch(2)] == ["a", "b"]
    cursor = page.cursor()
    assert [b.title for b in Book.all().order("title").with_cursor(cursor).fetch(10)] == ["c", "d"]
    with pytest.raises(db.PropertyError):
        MyModel.all().filter("body =", "x")
    with pytest.raises(db.BadRequestError):
        Book.all().filter("year >", 1).filter("title >", "a").fetch(1)


def test_ancestor_and_namespace_queries(services):
    ann = Author(key_name="ann", name="Ann")
    ann.put()
    Book(parent=ann, title="mine").put()
    Book(title="other").put()
    assert [b.title for b in Book.all().ancestor(ann)] == ["mine"]
    ns_key = db.Key.from_path("Author", "x", namespace="ns")
    Author(key=ns_key, name="N").put()
    assert Author.all().count() == 1
    assert [a.name for a in db.Query(Author, namespace="ns")] == ["N"]


def test_rollback_and_is_in_transaction(services):
    def txn():
        assert db.is_in_transaction()
        MyModel(key_name="x", total=1).put()
        raise db.Rollback()

    assert db.run_in_transaction(txn) is None and not db.is_in_transaction()
    assert MyModel.get_by_key_name("x") is None

    def boom():
        MyModel(key_name="y").put()
        raise ValueError("boom")

    with pytest.raises(ValueError):
        db.run_in_transaction(boom)
    assert MyModel.get_by_key_name("y") is None


def test_nested_and_xg(services):
    with pytest.raises(db.BadRequestError, match="Nested transactions are not supported."):
        db.run_in_transaction(lambda: db.run_in_transaction(lambda: None))
    a, b = MyModel(key_name="a"), MyModel(key_name="b")
    db.put([a, b])

    def touch_both():
        db.get([a.key(), b.key()])

    with pytest.raises(db.BadRequestError, match="cross-group"):
        db.run_in_transaction(touch_both)
    db.run_in_transaction_options(db.create_transaction_options(xg=True), touch_both)


def test_current_transaction_handle_for_other_client_code(services):
    seen = []

    def txn():
        apiproxy.current_transaction.get().on_commit(lambda conn: seen.append("committed"))
        MyModel(key_name="t").put()

    db.run_in_transaction(txn)
    assert seen == ["committed"] and apiproxy.current_transaction.get() is None


def _conflicting_run(services, retries):
    """Thread A's transaction reads, then thread B commits a write to the same group; A must retry."""
    key = MyModel(key_name="counter", total=0).put()
    a_read, b_done = threading.Event(), threading.Event()
    attempts = []
    result = {}

    def increment():
        attempts.append(1)
        entity = MyModel.get(key)
        if len(attempts) == 1:
            a_read.set()
            b_done.wait(10)
        entity.total += 1
        entity.put()
        return entity.total

    def thread_a():
        try:
            result["a"] = db.run_in_transaction_custom_retries(retries, increment)
        except db.TransactionFailedError as e:
            result["a"] = e

    def thread_b():
        a_read.wait(10)
        db.run_in_transaction(lambda: MyModel(key=key, total=MyModel.get(key).total + 10).put())
        b_done.set()

    threads = [threading.Thread(target=apiproxy.run_in_context, args=(f,)) for f in (thread_a, thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return key, attempts, result["a"]


def test_real_conflict_between_threads_is_retried(services):
    key, attempts, result = _conflicting_run(services, retries=3)
    assert len(attempts) == 2 and result == 11 and MyModel.get(key).total == 11


def test_conflict_without_retries_fails(services):
    key, attempts, result = _conflicting_run(services, retries=0)
    assert isinstance(result, db.TransactionFailedError)
    assert str(result) == "The transaction could not be committed. Please try again."
    assert MyModel.get(key).total == 10


def test_data_survives_reopen(tmp_path):
    services = make_services(tmp_path / "db.sqlite3")
    apiproxy.install(services)
    key = MyModel(total=7).put()
    apiproxy.uninstall(services)
    services.storage.close()
    services = make_services(tmp_path / "db.sqlite3")
    apiproxy.install(services)
    try:
        assert MyModel.get(str(key)).total == 7
        assert MyModel(total=1).put().id() > key.id()
    finally:
        apiproxy.uninstall(services)
        services.storage.close()
