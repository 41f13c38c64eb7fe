"""Cloud NDB as a migrated App Engine app uses it: one client, a context per request."""
import threading

from flask import Flask, jsonify, request
from google.cloud import ndb

app = Flask(__name__)
client = ndb.Client()
attempts = {}
attempts_lock = threading.Lock()


class Greeting(ndb.Model):
    author = ndb.StringProperty()
    n = ndb.IntegerProperty()
    tags = ndb.StringProperty(repeated=True)
    body = ndb.TextProperty()
    when = ndb.DateTimeProperty(auto_now_add=True)
    packed = ndb.BlobProperty(compressed=True)


class Counter(ndb.Model):
    total = ndb.IntegerProperty(default=0)


def greeting_json(g):
    out = {"id": g.key.id(), "author": g.author, "n": g.n, "tags": g.tags, "body": g.body}
    if g.packed is not None:
        out["packed"] = g.packed.decode()
    return out


@app.route("/put", methods=["POST"])
def put():
    data = request.get_json()
    with client.context():
        key = Greeting(id=data.get("id"), author=data["author"], n=data["n"], tags=data.get("tags", []),
                       body=data.get("body"), packed=data["packed"].encode() if "packed" in data else None).put()
    return jsonify(id=key.id())


@app.route("/get/<name>")
def get(name):
    with client.context():
        g = Greeting.get_by_id(int(name) if name.isdigit() else name)
        return jsonify(greeting_json(g) if g else None)


@app.route("/query/<how>")
def query(how):
    with client.context():
        if how == "in":
            q = Greeting.query(Greeting.author.IN(["ann", "cy"]))
        elif how == "ne":
            q = Greeting.query(Greeting.author != "bob")
        elif how == "or":
            q = Greeting.query(ndb.OR(Greeting.author == "ann", Greeting.n == 2))
        else:
            q = Greeting.query().order(-Greeting.n)
        return jsonify(sorted((g.author, g.n) for g in q.fetch()) if how != "all" else [g.n for g in q.fetch()])


@app.route("/contended/<name>", methods=["POST"])
def contended(name):
    """A transaction whose first attempt loses a race: another writer changes the counter between
    its read and its commit, so the commit is ABORTED and ndb runs the function again."""

    def increment():
        with attempts_lock:
            attempts[name] = attempts.get(name, 0) + 1
            first = attempts[name] == 1
        counter = Counter.get_by_id(name) or Counter(id=name)
        if first:
            def rival():
                with client.context():
                    c = Counter.get_by_id(name) or Counter(id=name)
                    c.total += 100
                    c.put()
            t = threading.Thread(target=rival)
            t.start()
            t.join()
        counter.total += 1
        counter.put()

    with client.context():
        ndb.transaction(increment, retries=3)
        return jsonify(total=Counter.get_by_id(name).total, attempts=attempts[name])


@app.route("/allocate")
def allocate():
    with client.context():
        keys = Greeting.allocate_ids(3)
        fresh = Greeting(author="auto", n=0).put()
        return jsonify(ids=[k.id() for k in keys], fresh=fresh.id())
