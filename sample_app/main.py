"""The sample app: App Engine's `deferred` seed example, with pages to defer work and watch it run.

`do_something_later(key, amount)` is exactly the function App Engine's documentation defers; only the
imports say `gae_emu` where a production app says `google.appengine`.
"""
import html
import os
from urllib.parse import parse_qs, quote

from gae_emu.api import modules, taskqueue, users
from gae_emu.ext import db, deferred


class MyModel(db.Model):
    total = db.IntegerProperty(default=0)


class TaskResult(db.Model):
    """One line per task run, so the home page can show what ran where."""

    description = db.StringProperty()
    service = db.StringProperty()
    ran_at = db.DateTimeProperty(auto_now_add=True)


def do_something_later(key, amount):
    entity = MyModel.get(key)
    entity.total += amount
    entity.put()
    TaskResult(description="added %d to %s" % (amount, key.name()), service=modules.get_current_module_name()).put()


def do_something_with_lots_of_data(key, data):
    """Takes a payload over the 100 KiB task limit, so deferred stores it in the datastore."""
    do_something_later(key, len(data) // 1000)


def counter_key():
    return MyModel.get_or_insert("counter").key()


def defer_kind(kind):
    key = counter_key()
    if kind == "default":
        deferred.defer(do_something_later, key, 20)
    elif kind == "foo":
        deferred.defer(do_something_later, key, 20, _queue="foo", _countdown=60)
    elif kind == "named":
        deferred.defer(do_something_later, key, 1, _name="add-one-once")
    elif kind == "worker":
        deferred.defer(do_something_later, key, 5, _target="worker")
    elif kind == "large":
        deferred.defer(do_something_with_lots_of_data, key, "x" * 150000)
    else:
        raise ValueError("unknown kind %r" % kind)


def page(title, body, status="200 OK"):
    text = (
        "<!doctype html><html><head><meta charset='utf-8'><title>%s</title>"
        "<link rel='stylesheet' href='/static/style.css'></head><body><h1>%s</h1>%s</body></html>"
        % (html.escape(title), html.escape(title), body)
    )
    return status, text


def home(environ, message=""):
    counter = MyModel.get_by_key_name("counter")
    results = TaskResult.all().order("-ran_at").fetch(10)
    user = users.get_current_user()
    rows = "".join(
        "<tr><td>%s</td><td>%s</td><td>%s</td></tr>"
        % (html.escape(r.description or ""), html.escape(r.service or ""), r.ran_at.strftime("%H:%M:%S"))
        for r in results
    )
    forms = "".join(
        "<form method='post' action='/defer'><input type='hidden' name='kind' value='%s'>"
        "<button>%s</button></form>" % (kind, html.escape(label))
        for kind, label in [
            ("default", "defer +20 (default queue)"),
            ("foo", "defer +20 on queue foo in 60 s"),
            ("named", "defer +1 named add-one-once"),
            ("worker", "defer +5 to the worker service"),
            ("large", "defer a 150 KB payload"),
        ]
    )
    body = "%s<p>%s</p><p>Total: <strong id='total'>%s</strong></p>%s<h2>Recent task results</h2><table>%s</table>" % (
        message,
        html.escape(os.environ.get("GREETING", "")),
        counter.total if counter else 0,
        forms,
        rows or "<tr><td>No task has run yet.</td></tr>",
    )
    body += "<p>Signed in as %s. <a href='%s'>Account page</a> (login: required) &middot; <a href='/admin-only'>Admin page</a> (login: admin) &middot; <a href='/_ah/admin'>Admin console</a></p>" % (
        html.escape(user.email()) if user else "nobody",
        html.escape(users.create_login_url("/account")),
    )
    return page("gae-emu sample app", body)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    method = environ.get("REQUEST_METHOD", "GET")
    if path == "/defer" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8"))
        kind = form.get("kind", [""])[0]
        try:
            defer_kind(kind)
        except (taskqueue.Error, ValueError) as exc:
            message = "<p class='msg err'>%s: %s</p>" % (type(exc).__name__, html.escape(str(exc)))
            status = "409 Conflict" if isinstance(exc, taskqueue.Error) else "400 Bad Request"
            _, text = home(environ, message)
        else:
            # Post/redirect/get: reloading the page that follows does not defer again.
            start_response("303 See Other", [("Location", "/?deferred=" + quote(kind)), ("Content-Type", "text/plain")])
            return [b""]
    elif path == "/total":
        counter = MyModel.get_by_key_name("counter")
        status, text = "200 OK", str(counter.total if counter else 0)
    elif path == "/account":
        user = users.get_current_user()
        status, text = page("Your account", "<p>%s</p>" % html.escape(user.email()))
    elif path == "/admin-only":
        status, text = page("Administrators only", "<p>You are an administrator.</p>")
    elif path == "/":
        deferred_kind = parse_qs(environ.get("QUERY_STRING", "")).get("deferred", [""])[0]
        status, text = home(environ, "<p class='msg'>Deferred: %s</p>" % html.escape(deferred_kind) if deferred_kind else "")
    else:
        status, text = page("Not found", "<p>No page at %s</p>" % html.escape(path), "404 Not Found")
    start_response(status, [("Content-Type", "text/html; charset=utf-8")])
    return [text.encode("utf-8")]
