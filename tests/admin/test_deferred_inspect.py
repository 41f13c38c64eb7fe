"""`gae_emu.ext.deferred_inspect`: deferred payloads described from their opcodes, never executed."""
from __future__ import annotations

import collections
import datetime
import os
import pickle
import sys

import pytest

from gae_emu.ext import deferred
from gae_emu.ext.deferred_inspect import PayloadError, describe, render, symbolic_load, try_describe
from gae_emu.services.datastore import Key


def increment(name: str, amount: int) -> None:
    pass


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_callable_args_and_kwargs_in_every_protocol(protocol):
    key = Key.build("dev~app", "", [("Counter", "c")])
    payload = pickle.dumps((increment, ("c", 2, 1.5, None, True, [1, 2], {"k": key}), {"label": "x"}), protocol)
    described = describe(payload)
    assert described["callable"].endswith("test_deferred_inspect.increment")
    assert described["args"][:6] == ["'c'", "2", "1.5", "None", "True", "[1, 2]"]
    assert "{'k': Key('Counter', 'c')}" == described["args"][6]
    assert described["kwargs"] == {"label": "'x'"}


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/gae-emu-pwned",))


def test_nothing_is_imported_or_called():
    # A callable from a module that does not exist, and an argument that would run a shell command.
    payload = pickle.dumps((os.path.join, (Evil(),), {}), 0)
    join = b"c%s\njoin\n" % os.path.join.__module__.encode()
    assert join in payload
    payload = payload.replace(join, b"cno_such_module_x\nboom\n")
    described = describe(payload)
    assert described == {"callable": "no_such_module_x.boom",
                         "args": [f"{os.system.__module__}.system('touch /tmp/gae-emu-pwned')"], "kwargs": {}}
    assert "no_such_module_x" not in sys.modules
    assert not os.path.exists("/tmp/gae-emu-pwned")


def test_bound_methods_show_as_object_dot_member():
    payload = pickle.dumps((deferred.invoke_member, (collections.OrderedDict(a=1), "get", "a"), {}))
    described = describe(payload)
    assert described["callable"] == "collections.OrderedDict() with items [('a', 1)].get"
    assert described["args"] == ["'a'"]


def test_objects_sets_and_datetimes_render_as_calls():
    value = symbolic_load(pickle.dumps((len, ({1, 2}, frozenset([3]), datetime.date(2020, 1, 2)), {})))
    text = render(value)
    assert text.startswith("(builtins.len, ({1, 2}, frozenset({3}), datetime.date(b'")


def test_not_a_deferred_payload():
    assert try_describe(pickle.dumps([1, 2]))["error"].startswith("not a deferred payload")
    assert "error" in try_describe(b"not a pickle")
    assert "error" in try_describe(b"")
    with pytest.raises(PayloadError):
        describe(b"\x80\x04N")  # no STOP


def test_exponential_payloads_render_within_budget():
    nested = [1] * 50
    for _ in range(40):
        nested = [nested] * 50  # a few kilobytes of pickle describing 50**40 values
    payload = pickle.dumps((len, (nested,), {}))
    assert len(payload) < 10_000
    assert len(describe(payload)["args"][0]) <= 300


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_datastore_keys_show_as_the_user_wrote_them(protocol):
    """Not gae-emu's internals (`..._rebuild_key('dev~sample-app', '', (('MyModel', 'counter'),))`)."""
    from google.appengine.ext import ndb

    from gae_emu.services.datastore.keys import Key

    ours = Key.from_path("MyModel", "counter", _app="dev~sample-app")
    google = ndb.Key("MyModel", "counter", "Child", 5, app="dev~sample-app", namespace="ns")
    described = describe(pickle.dumps((print, (ours, google), {}), protocol))
    assert described["args"] == ["Key('MyModel', 'counter')", "Key('MyModel', 'counter', 'Child', 5, namespace='ns')"]
