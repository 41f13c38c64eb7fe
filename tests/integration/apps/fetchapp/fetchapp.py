"""Fetches the URL a test names with Google's urlfetch and answers with what came back (or the
class of the error the library raised)."""
import base64
import hashlib

from flask import Flask, jsonify, request
from google.appengine.api import urlfetch, wrap_wsgi_app

app = Flask(__name__)
app.wsgi_app = wrap_wsgi_app(app.wsgi_app)


@app.post("/fetch")
def fetch():
    args = request.get_json()
    options = {k: args[k] for k in ("method", "headers", "deadline", "follow_redirects", "validate_certificate",
                                    "allow_truncated") if k in args}
    if "payload" in args:
        options["payload"] = args["payload"].encode()
    try:
        result = urlfetch.fetch(args["url"], **options)
    except urlfetch.Error as exc:
        return jsonify(error=type(exc).__name__, message=str(exc))
    content = result.content
    return jsonify(status=result.status_code, headers=dict(result.headers), final_url=result.final_url,
                   truncated=result.content_was_truncated, size=len(content),
                   sha1=hashlib.sha1(content).hexdigest(),
                   content=base64.b64encode(content[:4096]).decode())


@app.get("/hello")
def hello():
    return "hello from the app itself"
