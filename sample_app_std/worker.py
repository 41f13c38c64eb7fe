"""The worker service: deferred tasks with `_target="worker"` run here."""
from flask import Flask
from google.appengine.api import wrap_wsgi_app

app = Flask(__name__)
app.wsgi_app = wrap_wsgi_app(app.wsgi_app, use_deferred=True)


@app.route("/")
def home():
    return "worker service"
