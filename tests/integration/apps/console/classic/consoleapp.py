"""/fail defers boom(), which always raises: the console should show its traceback once. /raise
raises in the request itself (the development error page)."""
from gae_emu.ext import deferred


def boom(n):
    raise ValueError("boom %d" % n)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/raise":
        raise ValueError("<b>not markup</b>")
    name = deferred.defer(boom, 1).name if environ["PATH_INFO"] == "/fail" else "ok"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [name.encode()]
