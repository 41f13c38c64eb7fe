"""Fuzz the API server (`/rpc_http`) in-process: the remote_api envelope, and every datastore_v3,
taskqueue, memcache, modules, user and app_identity request generated from its descriptor (then
byte-damaged). Every call answers a parsable `Response`; a failure is an `application_error` or an
`rpc_error` with a real code, never `UNKNOWN` (our internal error)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given, strategies as st

from gae_emu.apiserver.errors import RpcCode
from gae_emu.apiserver.protos import library_available, pb
from gae_emu.apiserver.server import service_handlers
from gae_emu.apiserver.transport import RpcApp
from gae_emu.testing import services

pytestmark = pytest.mark.skipif(not library_available(), reason="appengine-python-standard is not installed")

TICKET = "fuzz-ticket"


@pytest.fixture(scope="module")
def rpc_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpcApp]:
    root = tmp_path_factory.mktemp("fuzz-api")
    (root / "app").mkdir()
    (root / "app" / "queue.yaml").write_text("queue:\n- name: default\n  rate: 5/s\n- name: pulled\n  mode: pull\n")
    with services(app_root=root / "app", app_id="dev~fuzz", storage_path=root / "storage") as bed:
        bed.taskqueue.known_targets = lambda: ("default",)
        live = {TICKET: {"HTTP_HOST": "localhost:8080", "wsgi.url_scheme": "http", "CURRENT_MODULE_ID": "default"}}
        yield RpcApp(service_handlers(bed.services, {"default": "1"}), live.get)


def _method_table() -> list:
    if not library_available():
        return []
    app = RpcApp(service_handlers(_NoServices(), {}), lambda t: None)
    return sorted(app.methods().items())


class _NoServices:
    """Enough of `Services` for building the method table (no calls are made)."""
    hostnames: dict = {}
    default_service = "default"
    app_id = "dev~fuzz"

    def __getattr__(self, name: str) -> None:
        return None  # any service the handlers hold: not called while listing methods


# urlfetch.Fetch is left out: fuzzing it would send requests to whatever URLs come up.
NOT_FUZZED = {("urlfetch", "Fetch")}
METHODS = [(name, entry) for name, entry in _method_table() if name not in NOT_FUZZED]


def _check(app: RpcApp, envelope: bytes) -> None:
    reply = app.handle(envelope)
    response = pb().remote_api.Response()
    response.ParseFromString(reply)  # always a well-formed Response
    if response.HasField("rpc_error"):
        assert response.rpc_error.code != RpcCode.UNKNOWN, response.rpc_error.detail
    if response.HasField("exception"):
        raise AssertionError("a pickled exception in the reply")


def _envelope(service: str, method: str, payload: bytes, ticket: str = TICKET) -> bytes:
    return pb().remote_api.Request(service_name=service, method=method, request_id=ticket,
                                   request=payload).SerializeToString()


@pytest.mark.parametrize("call", [name for name, _ in METHODS], ids=lambda c: ".".join(c))
def test_every_method_answers_malformed_requests_with_api_errors(rpc_app, call, counted):
    from tests.fuzz.protostrategies import mutated, serialized

    request_type = dict(METHODS)[call][0]
    payloads = st.one_of(serialized(request_type), mutated(serialized(request_type)), st.binary(max_size=64))

    @given(payloads)
    def check(payload: bytes) -> None:
        counted()
        _check(rpc_app, _envelope(call[0], call[1], payload))

    check()


def test_the_envelope_answers_malformed_bytes_with_rpc_errors(rpc_app, counted):
    from tests.fuzz.protostrategies import mutated, serialized

    envelopes = st.one_of(st.binary(max_size=128), mutated(serialized(pb().remote_api.Request)),
                          mutated(st.sampled_from([_envelope(s, m, b"") for (s, m), _ in METHODS])))

    @given(envelopes)
    def check(envelope: bytes) -> None:
        counted()
        _check(rpc_app, envelope)

    check()
