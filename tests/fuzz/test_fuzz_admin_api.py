"""Fuzz the admin console's JSON API in-process: every malformed request is a 4xx (or 503 when no
dispatcher runs) with a JSON `{"error": ...}` body, never a 500."""
from __future__ import annotations

import json
from typing import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given, strategies as st
from werkzeug.test import Client

from gae_emu.handlers import admin
from gae_emu.services.datastore.entities import Entity
from gae_emu.services.datastore.keys import Key
from gae_emu.testing import services

API_HEADERS = {"X-Requested-With": "fuzz", "Host": "localhost:8000"}

numbers = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0x10", "1_0", "", " 5 ", "9" * 40, str(2 ** 63),
                     str(-2 ** 63 - 1), "1.5", "\u0665", "\x00", "5\x00"]),
    st.integers().map(str), st.floats().map(str), st.text(max_size=12))
segments = st.one_of(st.sampled_from(["default", "nope", "", ".", "..", "%00", "%ff", "%ED%A0%80", "a" * 600]),
                     st.text(max_size=30).map(lambda t: quote(t, safe="", errors="surrogatepass")))
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                        st.sampled_from(["\ud800", "nan", 10 ** 400]))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)


def _encode(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


bodies = st.one_of(
    st.none(),
    st.binary(max_size=64),
    json_values.map(_encode),
    st.builds(lambda depth, kind: (kind[0] * depth + kind[1] * depth).encode(),
              st.integers(1, 100_000), st.sampled_from([("[", "]"), ('{"a":', "}")])),
    st.fixed_dictionaries({"timeout": json_leaves}).map(_encode),
    st.fixed_dictionaries({"properties": json_values, "types": json_values}).map(_encode),
)


@pytest.fixture(scope="module")
def console() -> Iterator[tuple]:
    with services() as testbed:
        entity = Entity(Key.from_path("Fuzz", 1))
        entity.set("name", "x")
        entity.set("n", 1)
        (key,) = testbed.services.datastore.put([entity])
        yield Client(admin.application), str(key), testbed


def _paths(key: str):
    return st.one_of(
        st.tuples(st.just("GET"), st.builds("/api/queues/{}/tasks".format, segments)),
        st.tuples(st.just("GET"), st.builds("/api/queues/{}/tombstones".format, segments)),
        st.tuples(st.just("POST"), st.builds("/api/queues/{}/tasks/{}/run".format, segments, segments)),
        st.tuples(st.just("POST"), st.builds("/api/queues/{}/tasks/{}/delete".format, segments, segments)),
        st.tuples(st.just("POST"), st.builds("/api/queues/{}/purge".format, segments)),
        st.tuples(st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
                  st.sampled_from(["/api/run-due", "/api/wait-idle", "/api/datastore/namespaces",
                                   "/api/datastore/kinds", "/api/datastore/entities", "/api/requests",
                                   "/api/queues", "/api/nothing"])),
        st.tuples(st.sampled_from(["GET", "POST"]),
                  st.builds("/api/datastore/entity/{}".format, st.one_of(segments, st.just(key)))),
        st.tuples(st.just("POST"), st.builds("/api/datastore/entity/{}/delete".format, segments)),
    )


@st.composite
def requests(draw, key: str):
    method, path = draw(_paths(key))
    args = draw(st.dictionaries(st.sampled_from(["offset", "limit", "kind", "namespace", "timeout"]),
                                st.one_of(numbers, segments), max_size=4))
    return method, path, args, draw(bodies)


def test_admin_api_answers_malformed_requests_with_json_errors(console, counted):
    client, key, testbed = console

    @given(requests(key))
    def check(request):
        counted()
        method, path, args, body = request
        response = client.open(path, method=method, query_string=args, data=body, headers=API_HEADERS,
                               content_type="application/json")
        assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.data[:300])
        if response.status_code >= 400:
            assert "error" in json.loads(response.data), response.data[:300]
        testbed.services.taskqueue  # the services stay installed and usable

    check()


@pytest.mark.parametrize("body", [{"properties": {"a": 1}, "types": {"a": ["int"]}},  # found by this suite: was a 500
                                  {"properties": {"a": 1}, "types": {"a": {"t": 1}}},
                                  {"properties": [1]}, {"properties": {"a": [1]}}])
def test_edit_entity_refuses_malformed_bodies(console, body):
    client, key, _ = console
    response = client.post(f"/api/datastore/entity/{key}", data=json.dumps(body), headers=API_HEADERS,
                           content_type="application/json")
    assert response.status_code == 400 and "error" in json.loads(response.data), response.data
