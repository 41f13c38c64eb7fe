"""/fail defers boom(), which always raises: the console should show its traceback once."""
from gae_emu.ext import deferred


def boom(n):
    raise ValueError("boom %d" % n)


def app(environ, start_response):
    name = deferred.defer(boom, 1).name if environ["PATH_INFO"] == "/fail" else "ok"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [name.encode()]
