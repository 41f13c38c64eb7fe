"""The admin console tests' app: defers `increment` (a counter entity) and stores a markup value."""
import json
from urllib.parse import parse_qs

from gae_emu.ext import db, deferred

XSS = "<script>alert(1)</script>"


class Counter(db.Model):
    count = db.IntegerProperty(default=0)
    label = db.StringProperty(default="")


class Note(db.Model):
    text = db.StringProperty()


def increment(name, amount, label=""):
    counter = Counter.get_or_insert(name)
    counter.count += amount
    if label:
        counter.label = label
    counter.put()


def fail_once_then_count(name):
    """Fails (500) on the first attempt, counts on later ones."""
    counter = Counter.get_or_insert(name)
    counter.count += 1
    counter.put()
    if counter.count == 1:
        raise RuntimeError("first attempt fails")


def always_fail():
    raise RuntimeError("this task always fails")


def app(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ["PATH_INFO"]
    result = {}
    if path == "/defer":
        options = {"_queue": query.get("queue", "default")}
        if "countdown" in query:
            options["_countdown"] = int(query["countdown"])
        if "task" in query:
            options["_name"] = query["task"]
        task = deferred.defer(increment, query.get("name", "c"), int(query.get("amount", "1")),
                              label=query.get("label", ""), **options)
        result = {"task": task.name}
    elif path == "/defer-flaky":
        result = {"task": deferred.defer(fail_once_then_count, query.get("name", "flaky")).name}
    elif path == "/defer-failing":
        result = {"task": deferred.defer(always_fail, _queue="hot").name}
    elif path == "/seed":
        Note(key_name="xss", text=XSS).put()
        Counter(key_name="shown", count=7, label=XSS).put()
        result = {"note": str(Note.get_by_key_name("xss").key())}
    elif path == "/count":
        counter = Counter.get_by_key_name(query.get("name", "c"))
        result = {"count": counter.count if counter else None, "label": counter.label if counter else None}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]
