"""Fuzz the deferred handler (`/_ah/queue/deferred`) in-process: damaged pickles, random bytes, bad
Content-Length values. Every request gets one of App Engine's answers (200 Success or
PermanentTaskFailure, 403 without task headers, 405, 408, 500 to be retried), never an exception."""
from __future__ import annotations

import io
import pickle

from hypothesis import given, strategies as st

from gae_emu.ext import deferred

CALLS = []


def record(*args, **kwargs):
    """The one function the fuzzed payloads name: it only records its call."""
    CALLS.append((args, kwargs))


SEEDS = [pickle.dumps((record, (1, "a"), {"k": b"v"}), protocol) for protocol in range(pickle.HIGHEST_PROTOCOL + 1)]
SEEDS.append(deferred.serialize(record, 1, 2, x=3))
ANSWERS = {"200 OK", "403 Forbidden", "405 Method Not Allowed", "408 Request Timeout", "500 Internal Server Error"}


@st.composite
def damaged(draw):
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[at:at + draw(st.integers(1, 6))]
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=6))
    return bytes(raw)


payloads = st.one_of(damaged(), st.binary(max_size=80), st.sampled_from(SEEDS))
lengths = st.one_of(st.none(), st.sampled_from(["", "abc", "-1", "1e3", "99999999999999999999"]))


def test_deferred_handler_answers_every_payload(counted):
    @given(payloads, lengths, st.booleans(), st.sampled_from(["POST", "GET", "PUT"]))
    def check(payload, length, from_queue, method):
        counted()
        _post(payload, length, from_queue, method)

    check()


def _post(payload, length, from_queue, method):
    environ = {"REQUEST_METHOD": method, "wsgi.input": io.BytesIO(payload),
               "CONTENT_LENGTH": str(len(payload)) if length is None else length}
    if from_queue:
        environ.update(HTTP_X_APPENGINE_TASKNAME="fuzz", HTTP_X_APPENGINE_QUEUENAME="default")
    seen = []
    body = b"".join(deferred.application(environ, lambda status, headers: seen.append(status)))
    assert len(seen) == 1 and seen[0] in ANSWERS, (seen, body)
