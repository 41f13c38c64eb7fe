"""/fail defers boom(), which always raises: the console should show its traceback once.
/memcache-seed stores a few values, /memcache-get?key= reads one back (the console's memcache page). Logging at
INFO, as apps that log to Cloud Logging do: the deferred handler's header dump reaches the output."""
import logging

import json
from urllib.parse import parse_qs

from google.appengine.api import memcache, wrap_wsgi_app
from google.appengine.ext import deferred


logging.basicConfig(level=logging.INFO)


def boom(n):
    raise ValueError(f"boom {n}")


def app(environ, start_response):
    if environ["PATH_INFO"] == "/fail":
        name = deferred.defer(boom, 1).name
    elif environ["PATH_INFO"] == "/memcache-seed":
        memcache.set("greeting", "hello <b>")
        memcache.set("record", {"n": 1, "tags": ["a"]})
        memcache.set("other-ns", 7, namespace="ns1")
        name = "seeded"
    elif environ["PATH_INFO"] == "/memcache-get":
        key = parse_qs(environ.get("QUERY_STRING", ""))["key"][0]
        name = json.dumps(memcache.get(key))
    else:
        name = "ok"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [name.encode()]


app = wrap_wsgi_app(app, use_deferred=True)
