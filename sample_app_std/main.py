"""The sample app, written against Google's appengine-python-standard: Flask wrapped with
`wrap_wsgi_app(use_deferred=True)`, ndb models, deferred tasks, users. It runs unchanged on App
Engine and under `gae-emu dev`; the JSON pages under /api/ are what the integration tests drive.
"""
import html
import os
import threading

from flask import Flask, abort, jsonify, request
from google.appengine.api import taskqueue, users, wrap_wsgi_app
from google.appengine.ext import deferred, ndb

import tasks

app = Flask(__name__)
app.wsgi_app = wrap_wsgi_app(app.wsgi_app, use_deferred=True)

_attempts_lock = threading.Lock()
_attempts = {}  # transaction attempts per counter, to show a conflict being retried


@app.route("/")
def home():
    counter = tasks.Counter.get_by_id("counter")
    user = users.get_current_user()
    results = tasks.TaskResult.query().order(-tasks.TaskResult.ran_at).fetch(10)
    rows = "".join("<li>%s (%s)</li>" % (html.escape(r.description or ""), html.escape(r.service or ""))
                   for r in results)
    return ("<h1>gae-emu sample app (appengine-python-standard)</h1><p>%s</p><p>Total: %s</p><ul>%s</ul>"
            "<p>Signed in as %s. <a href='%s'>Sign in</a></p>" % (
                html.escape(os.environ.get("GREETING", "")), counter.total if counter else 0, rows,
                html.escape(user.email()) if user else "nobody", html.escape(users.create_login_url("/"))))


@app.route("/account")
def account():
    return "Signed in as %s" % html.escape(users.get_current_user().email())


# -- deferred -------------------------------------------------------------------------------------

def _error(exc):
    return jsonify(error=type(exc).__name__, message=str(exc)), 409


@app.route("/api/defer/small", methods=["POST"])
def defer_small():
    task = deferred.defer(tasks.record, request.args["id"], "small")
    return jsonify(task=task.name)


@app.route("/api/defer/large", methods=["POST"])
def defer_large():
    # 150 KB is over the 100 KB task limit: deferred stores it as a _DeferredTaskEntity. The countdown
    # lets this request see that entity before the task runs (and deletes it).
    deferred.defer(tasks.record, request.args["id"], "large", "x" * 150000, _countdown=2)
    return jsonify(stored=ndb.Query(kind="_DeferredTaskEntity").count())


@app.route("/api/deferred-entities")
def deferred_entities():
    return jsonify(count=ndb.Query(kind="_DeferredTaskEntity").count())


@app.route("/api/defer/named", methods=["POST"])
def defer_named():
    try:
        # The countdown keeps the task queued long enough for a second add to find it there.
        task = deferred.defer(tasks.record, request.args["id"], "named", _name=request.args["name"], _countdown=1)
    except (taskqueue.TaskAlreadyExistsError, taskqueue.TombstonedTaskError) as exc:
        return _error(exc)
    return jsonify(task=task.name)


@app.route("/api/defer/options", methods=["POST"])
def defer_options():
    task = deferred.defer(tasks.record, request.args["id"], "options", _countdown=1, _queue="foo",
                          _target="worker", _headers={"X-Custom": "custom-value"})
    return jsonify(task=task.name, eta=task.eta.isoformat())


@app.route("/api/defer/transactional", methods=["POST"])
def defer_transactional():
    result_id, commit = request.args["id"], request.args.get("commit") == "1"

    @ndb.transactional
    def txn():
        tasks.Counter(id="txn-" + result_id, total=1).put()
        deferred.defer(tasks.record, result_id, "transactional", _transactional=True)
        if not commit:
            raise ndb.Rollback()

    txn()
    return jsonify(committed=tasks.Counter.get_by_id("txn-" + result_id) is not None)


@app.route("/api/result/<result_id>")
def result(result_id):
    found = tasks.TaskResult.get_by_id(result_id, use_cache=False, use_memcache=False)
    if found is None:
        abort(404)
    return jsonify(description=found.description, service=found.service, queue=found.queue,
                   task_name=found.task_name, custom_header=found.custom_header, payload_size=found.payload_size)


# -- ndb ------------------------------------------------------------------------------------------

@app.route("/api/counter/<counter_id>/add", methods=["POST"])
def counter_add(counter_id):
    """get_or_insert + put in a transaction; with ?conflict=1 its first attempt loses a race with a
    write made outside the transaction, so ndb retries it."""
    conflict = request.args.get("conflict") == "1"

    @ndb.non_transactional
    def meddle():
        meddler = tasks.Counter.get_by_id(counter_id, use_cache=False, use_memcache=False)
        meddler.total += 100
        meddler.put(use_cache=False, use_memcache=False)

    @ndb.transactional(retries=3)
    def add():
        with _attempts_lock:
            _attempts[counter_id] = attempt = _attempts.get(counter_id, 0) + 1
        counter = tasks.Counter.get_or_insert(counter_id)
        if conflict and attempt == 1:
            meddle()
        counter.total += 1
        counter.put()
        return counter.total

    _attempts.pop(counter_id, None)
    if conflict:
        tasks.Counter.get_or_insert(counter_id)  # meddle() needs an entity to change
    total = add()
    stored = tasks.Counter.get_by_id(counter_id, use_cache=False, use_memcache=False)
    return jsonify(total=total, stored=stored.total, attempts=_attempts[counter_id])


@app.route("/api/items", methods=["POST"])
def make_items():
    colours = ["red", "blue", "red", "green", "red", "blue"]
    ndb.put_multi([tasks.Item(id="item%d" % i, name="item%d" % i, score=i * 10, colour=c)
                   for i, c in enumerate(colours)])
    return jsonify(count=len(colours))


@app.route("/api/items/query")
def query_items():
    red = tasks.Item.query(tasks.Item.colour == "red").order(-tasks.Item.score)
    ranged = tasks.Item.query(tasks.Item.score >= 20, tasks.Item.score < 50).order(tasks.Item.score)
    return jsonify(
        red=[i.name for i in red.fetch()],
        red_count=red.count(),
        ranged=[i.score for i in ranged.fetch()],
        keys=[k.id() for k in tasks.Item.query().fetch(3, keys_only=True)],
        total=tasks.Item.query().count(),
    )


# -- users ----------------------------------------------------------------------------------------

@app.route("/api/whoami")
def whoami():
    user = users.get_current_user()
    return jsonify(email=user.email() if user else None, user_id=user.user_id() if user else None,
                   admin=users.is_current_user_admin(), login_url=users.create_login_url("/api/whoami"),
                   logout_url=users.create_logout_url("/"))
