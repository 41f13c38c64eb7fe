"""gae_emu.ext.deferred in-process: serialize/run/invoke_member, refusals at defer time, the large
payload path, the handler's answers and log level, over `gae_emu.testing.services()`."""
from __future__ import annotations

import logging
import pickle
import threading
from typing import Any, Iterator, List

import pytest

from gae_emu.api import taskqueue
from gae_emu.ext import db, deferred
from gae_emu.testing import Testbed as _Testbed, services

CALLS: List[Any] = []


def record(*args: Any, **kwargs: Any) -> str:
    CALLS.append((args, kwargs))
    return "recorded"


def fail_permanently() -> None:
    CALLS.append("permanent")
    raise deferred.PermanentTaskFailure("never")


def fail_once() -> None:
    CALLS.append("other")
    raise RuntimeError("boom")


def fail_singular() -> None:
    CALLS.append("singular")
    raise deferred.SingularTaskFailure()


class Thing:
    def __init__(self, value: int = 1) -> None:
        self.value = value

    def method(self, x: int) -> int:
        CALLS.append(("method", self.value, x))
        return self.value + x

    @classmethod
    def cmethod(cls, x: int) -> str:
        CALLS.append(("cmethod", cls.__name__, x))
        return cls.__name__

    @staticmethod
    def smethod() -> None:
        pass

    class Inner:
        def __call__(self) -> None:
            pass


class Callable_:
    def __call__(self, x: int) -> None:
        CALLS.append(("instance", x))


@pytest.fixture
def testbed(tmp_path) -> Iterator[_Testbed]:
    CALLS.clear()
    with services(storage_path=tmp_path / "storage") as bed:
        yield bed


@pytest.fixture
def small_testbed(tmp_path) -> Iterator[_Testbed]:
    """Tasks over 2000 bytes are too large, so the datastore path is cheap to reach."""
    CALLS.clear()
    with services(storage_path=tmp_path / "storage", max_task_size=2000) as bed:
        yield bed


def payload_entities() -> int:
    return deferred._DeferredTaskEntity.all().count()


# -- serialize / run / invoke_member ----------------------------------------------------------------


def test_serialize_then_run_calls_the_function() -> None:
    CALLS.clear()
    assert deferred.run(deferred.serialize(record, 1, b=2)) == "recorded"
    assert CALLS == [((1,), {"b": 2})]


def test_bound_and_builtin_methods_travel_through_invoke_member() -> None:
    func, args, kwargs = pickle.loads(deferred.serialize(Thing(5).method, 3))
    assert func is deferred.invoke_member
    assert args[1:] == ("method", 3) and args[0].value == 5
    func, args, _ = pickle.loads(deferred.serialize(Thing.cmethod, 2))
    assert func is deferred.invoke_member and args == (Thing, "cmethod", 2)
    func, args, _ = pickle.loads(deferred.serialize([3, 1].sort))
    assert func is deferred.invoke_member and args == ([3, 1], "sort")
    # A built-in function of a module is found again by name, as is.
    func, args, _ = pickle.loads(deferred.serialize(len, "ab"))
    assert func is len and args == ("ab",)


def test_invoke_member_calls_the_named_member() -> None:
    CALLS.clear()
    assert deferred.invoke_member(Thing(2), "method", 3) == 5
    assert deferred.run(deferred.serialize(Thing.cmethod, 4)) == "Thing"
    assert CALLS == [("method", 2, 3), ("cmethod", "Thing", 4)]


def test_run_of_a_bad_payload_is_a_permanent_failure() -> None:
    with pytest.raises(deferred.PermanentTaskFailure):
        deferred.run(b"not a pickle")
    with pytest.raises(deferred.PermanentTaskFailure):
        deferred.run(pickle.dumps("not a triple"))


def test_cross_compatible_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFERRED_USE_CROSS_COMPATIBLE_PICKLE_PROTOCOL", "1")
    data = deferred.serialize(record, 1)
    assert not data.startswith(b"\x80"), "protocol 0 has no PROTO opcode"
    assert pickle.loads(data)[0] is record


def _nested_function() -> Any:
    def nested() -> None:
        pass

    return nested


def _closure() -> Any:
    value = 1

    def closure() -> int:
        return value

    return closure


def _local_class() -> type:
    class Local:
        def __call__(self) -> None:
            pass

    return Local


@pytest.mark.parametrize("make, words", [
    (_nested_function, ["nested", "_nested_function.<locals>.nested"]),
    (_closure, ["nested", "closure"]),
    (lambda: (lambda: None), ["<lambda>", "lambda"]),
    (lambda: Thing.smethod, ["Thing.smethod", "static"]),
    (lambda: Thing.__dict__["smethod"], ["static"]),
    (lambda: Thing.Inner, ["Thing.Inner", "nested classes"]),
    (lambda: Thing.Inner(), ["Thing.Inner", "nested classes"]),
    (_local_class, ["Local", "local classes"]),
    (lambda: _local_class()(), ["Local", "local classes"]),
    (lambda: 42, ["not callable"]),
])
def test_curry_callable_refuses_what_cannot_be_found_again(make: Any, words: List[str]) -> None:
    obj = make()
    with pytest.raises(ValueError) as info:
        deferred._curry_callable(obj)
    for word in words:
        assert word in str(info.value)
    with pytest.raises(ValueError):
        deferred.serialize(obj)


def test_unpicklable_arguments_name_the_callable() -> None:
    with pytest.raises(pickle.PicklingError) as info:
        deferred.serialize(record, threading.Lock())
    assert "record" in str(info.value)


def test_allowed_kinds_are_not_refused() -> None:
    for obj in (record, Thing, Callable_(), Thing().method, Thing.cmethod, len, [].sort):
        deferred._curry_callable(obj)


# -- defer through the testbed ----------------------------------------------------------------------


def test_defer_runs_on_run_tasks(testbed: _Testbed) -> None:
    task = deferred.defer(record, 1, key="v")
    assert isinstance(task, taskqueue.Task)
    assert task.url == "/_ah/queue/deferred" and task.queue_name == "default"
    assert task.headers["Content-Type"] == "application/octet-stream"
    assert CALLS == []
    assert testbed.run_tasks() == 1
    assert CALLS == [((1,), {"key": "v"})]


def test_defer_refuses_forbidden_callable_before_adding(testbed: _Testbed) -> None:
    with pytest.raises(ValueError):
        deferred.defer(lambda: None)
    assert testbed.taskqueue.list_tasks("default") == []


def test_defer_options_reach_the_task(testbed: _Testbed) -> None:
    task = deferred.defer(record, _name="named-1", _countdown=30, _headers={"X-Custom": "1"},
                          _retry_options=taskqueue.TaskRetryOptions(task_retry_limit=2))
    [stored] = testbed.taskqueue.list_tasks("default")
    assert stored.name == task.name == "named-1"
    assert ("X-Custom", "1") in [(k, v) for k, v in stored.headers]
    assert stored.retry is not None and stored.retry.task_retry_limit == 2
    assert testbed.run_tasks() == 0, "not due for 30 s"
    on_queue_url = deferred.defer(record, _url=None, _queue="default")
    assert on_queue_url.on_queue_url
    [stored] = [t for t in testbed.taskqueue.list_tasks("default") if t.name == on_queue_url.name]
    assert stored.url in ("", "/_ah/queue/default")


def test_instance_and_class_callables_run(testbed: _Testbed) -> None:
    deferred.defer(Callable_(), 3)
    deferred.defer(Thing(9).method, 1)
    deferred.defer(sorted, [5], key=record)
    testbed.run_tasks()
    assert sorted(map(repr, CALLS)) == sorted(map(repr, [("instance", 3), ("method", 9, 1), ((5,), {})]))


def test_failures_map_to_retry_or_not(testbed: _Testbed) -> None:
    deferred.defer(fail_permanently)
    deferred.defer(fail_once)
    deferred.defer(fail_singular)
    testbed.run_tasks()
    assert sorted(CALLS) == ["other", "permanent", "singular"]
    left = {t.name: t for t in testbed.taskqueue.list_tasks("default")}
    assert sorted(t.last_response for t in left.values()) == [408, 500], "permanent failure is not retried"


# -- large payloads ---------------------------------------------------------------------------------


def test_large_payload_is_stored_run_and_deleted(small_testbed: _Testbed) -> None:
    deferred.defer(record, b"x" * 5000)
    assert payload_entities() == 1
    [stored] = small_testbed.taskqueue.list_tasks("default")
    assert stored.size <= 2000
    small_testbed.run_tasks()
    assert CALLS == [((b"x" * 5000,), {})]
    assert payload_entities() == 0


def test_large_payload_permanent_failure_deletes_the_entity(small_testbed: _Testbed) -> None:
    deferred.defer(fail_permanently_with, b"x" * 5000)
    small_testbed.run_tasks()
    assert payload_entities() == 0


def fail_permanently_with(blob: bytes) -> None:
    raise deferred.PermanentTaskFailure("never")


def test_large_payload_other_failure_keeps_the_entity(small_testbed: _Testbed) -> None:
    deferred.defer(fail_with, b"x" * 5000)
    small_testbed.run_tasks()
    assert payload_entities() == 1, "kept for the retry"


def fail_with(blob: bytes) -> None:
    raise RuntimeError("retry me")


def test_large_payload_transactional_commit_and_rollback(small_testbed: _Testbed) -> None:
    def work(rollback: bool) -> None:
        deferred.defer(record, b"y" * 5000, _transactional=True)
        assert small_testbed.taskqueue.list_tasks("default") == [], "enqueued only at commit"
        if rollback:
            raise db.Rollback()

    db.run_in_transaction(work, True)
    assert payload_entities() == 0
    assert small_testbed.taskqueue.list_tasks("default") == []
    db.run_in_transaction(work, False)
    assert payload_entities() == 1
    assert len(small_testbed.taskqueue.list_tasks("default")) == 1
    small_testbed.run_tasks()
    assert CALLS == [((b"y" * 5000,), {})]
    assert payload_entities() == 0


def test_large_transactional_payload_outside_a_transaction_leaves_no_entity(small_testbed: _Testbed) -> None:
    with pytest.raises(taskqueue.BadTransactionStateError):
        deferred.defer(record, b"z" * 5000, _transactional=True)
    assert payload_entities() == 0


def test_run_from_datastore_missing_entity_is_permanent(testbed: _Testbed) -> None:
    key = deferred._DeferredTaskEntity(data=b"x").put()
    db.delete(key)
    with pytest.raises(deferred.PermanentTaskFailure):
        deferred.run_from_datastore(str(key))


# -- the handler ------------------------------------------------------------------------------------


def wsgi(method: str, body: bytes = b"", headers: Any = None) -> Any:
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    env = EnvironBuilder(path="/_ah/queue/deferred", method=method, data=body or None, headers=headers or {},
                         environ_base={"SERVER_SOFTWARE": "Development/2.0"}).get_environ()
    app_iter, status, resp_headers = run_wsgi_app(deferred.application, env, buffered=True)
    return int(status.split()[0]), dict(resp_headers), b"".join(app_iter)


def test_handler_answers(testbed: _Testbed) -> None:
    named = {"X-AppEngine-TaskName": "t1"}
    assert wsgi("GET")[0] == 405
    assert wsgi("GET")[1]["Allow"] == "POST"
    status, _, body = wsgi("POST", deferred.serialize(record, 1))
    assert status == 403 and b"X-AppEngine-Taskname" in body
    assert CALLS == [], "refused before unpickling"
    assert wsgi("POST", deferred.serialize(record, 1), named)[:1] == (200,)
    assert wsgi("POST", deferred.serialize(fail_singular), named)[0] == 408
    assert wsgi("POST", deferred.serialize(fail_once), named)[0] == 500
    status, headers, body = wsgi("POST", deferred.serialize(fail_permanently), named)
    assert (status, body) == (200, b"PermanentTaskFailure")
    assert headers["Content-Type"] == "text/plain"
    assert wsgi("POST", b"garbage", named)[:1] == (200,)


def test_task_handler_class(testbed: _Testbed) -> None:
    import io

    body = deferred.serialize(record, 7)
    handler = deferred.TaskHandler({"HTTP_X_APPENGINE_TASKNAME": "t", "CONTENT_LENGTH": str(len(body)),
                                    "wsgi.input": io.BytesIO(body)})
    assert handler.post()[0].startswith("200")
    assert CALLS == [((7,), {})]
    assert callable(deferred.main)


def test_set_log_level_controls_the_header_log(testbed: _Testbed, caplog: pytest.LogCaptureFixture) -> None:
    try:
        deferred.set_log_level(logging.WARNING)
        deferred.defer(record)
        with caplog.at_level(logging.DEBUG, logger="gae_emu.deferred"):
            testbed.run_tasks()
        lines = [r for r in caplog.records if "HTTP_X_APPENGINE_TASKNAME" in r.getMessage()]
        assert [r.levelno for r in lines] == [logging.WARNING]
        assert "HTTP_X_APPENGINE_QUEUENAME:default" in lines[0].getMessage()
    finally:
        deferred.set_log_level(logging.INFO)


def test_small_transactional_task_follows_its_transaction(testbed: _Testbed) -> None:
    def work(rollback: bool) -> None:
        deferred.defer(record, "txn", _transactional=True)
        if rollback:
            raise db.Rollback()

    db.run_in_transaction(work, True)
    assert testbed.run_tasks() == 0
    db.run_in_transaction(work, False)
    assert testbed.run_tasks() == 1
    assert CALLS == [(("txn",), {})]
    with pytest.raises(taskqueue.BadTransactionStateError):
        deferred.defer(record, _transactional=True)
