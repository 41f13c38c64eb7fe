"""/fail defers boom(), which always raises: the console should show its traceback once. Logging at
INFO, as apps that log to Cloud Logging do: the deferred handler's header dump reaches the output."""
import logging

from google.appengine.api import wrap_wsgi_app
from google.appengine.ext import deferred


logging.basicConfig(level=logging.INFO)


def boom(n):
    raise ValueError(f"boom {n}")


def app(environ, start_response):
    if environ["PATH_INFO"] == "/fail":
        name = deferred.defer(boom, 1).name
    else:
        name = "ok"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [name.encode()]


app = wrap_wsgi_app(app, use_deferred=True)
