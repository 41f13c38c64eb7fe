"""Test app for the dev_appserver spellings: shows an environment variable, stores and counts
entities, runs a query that needs a composite index, and enqueues a task.

Routes (all answer JSON): /env?name=, /put, /count, /indexed-query, /enqueue.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List
from urllib.parse import parse_qs

from gae_emu.api import taskqueue
from gae_emu.ext import db


class Thing(db.Model):
    a = db.IntegerProperty()
    b = db.IntegerProperty()


def app(environ: Dict[str, Any], start_response: Callable) -> List[bytes]:
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/env":
        result: Any = os.environ.get(query["name"])
    elif path == "/put":
        result = Thing(a=1, b=2).put().id()
    elif path == "/count":
        result = Thing.all().count()
    elif path == "/indexed-query":
        try:
            result = len(Thing.all().filter("a =", 1).order("-b").fetch(10))
        except Exception as exc:  # NeedIndexError under --require-indexes
            result = type(exc).__name__
    elif path == "/enqueue":
        result = taskqueue.add(url="/work").name
    else:
        result = "ok"
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]
