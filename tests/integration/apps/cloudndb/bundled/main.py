"""Bundled ndb on the same entities as the Cloud NDB service."""
from flask import Flask, jsonify, request
from google.appengine.api import wrap_wsgi_app
from google.appengine.ext import ndb

app = Flask(__name__)
app.wsgi_app = wrap_wsgi_app(app.wsgi_app)


class Greeting(ndb.Model):
    author = ndb.StringProperty()
    n = ndb.IntegerProperty()
    tags = ndb.StringProperty(repeated=True)
    body = ndb.TextProperty()
    when = ndb.DateTimeProperty(auto_now_add=True)
    packed = ndb.BlobProperty(compressed=True)


@app.route("/get/<name>")
def get(name):
    g = Greeting.get_by_id(int(name) if name.isdigit() else name)
    if g is None:
        return jsonify(None)
    return jsonify(id=g.key.id(), author=g.author, n=g.n, tags=g.tags, body=g.body, app=g.key.app(),
                   when=g.when.isoformat(), packed=g.packed.decode() if g.packed else None)


@app.route("/put", methods=["POST"])
def put():
    data = request.get_json()
    key = Greeting(id=data["id"], author=data["author"], n=data["n"], tags=data.get("tags", []),
                   body=data.get("body"), packed=data["packed"].encode() if "packed" in data else None).put()
    return jsonify(id=key.id())


@app.route("/count")
def count():
    return jsonify(Greeting.query().count())
