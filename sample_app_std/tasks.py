"""The models and the deferred functions both services share (deferred pickles functions by their
module path, so they live in a module of their own)."""
import os

from google.appengine.ext import ndb


class Counter(ndb.Model):
    total = ndb.IntegerProperty(default=0)


class TaskResult(ndb.Model):
    """One entity per task run: what ran, where, and what the task request looked like."""

    description = ndb.StringProperty()
    service = ndb.StringProperty()
    queue = ndb.StringProperty()
    task_name = ndb.StringProperty()
    custom_header = ndb.StringProperty()
    payload_size = ndb.IntegerProperty()
    ran_at = ndb.DateTimeProperty(auto_now_add=True)


class Item(ndb.Model):
    """Rows for the query page."""

    name = ndb.StringProperty()
    score = ndb.IntegerProperty()
    colour = ndb.StringProperty()


def record(result_id, description, data=""):
    """A deferred task: remember that it ran, with the task headers the runtime put in os.environ."""
    TaskResult(
        id=result_id,
        description=description,
        service=os.environ.get("GAE_SERVICE") or os.environ.get("CURRENT_MODULE_ID"),
        queue=os.environ.get("HTTP_X_APPENGINE_QUEUENAME"),
        task_name=os.environ.get("HTTP_X_APPENGINE_TASKNAME"),
        custom_header=os.environ.get("HTTP_X_CUSTOM"),
        payload_size=len(data),
    ).put()


def do_something_later(counter_id, amount):
    """App Engine's documentation example: add to a counter (in a transaction)."""

    @ndb.transactional
    def add():
        counter = Counter.get_or_insert(counter_id)
        counter.total += amount
        counter.put()

    add()
