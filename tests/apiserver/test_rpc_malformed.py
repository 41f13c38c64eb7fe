"""Malformed datastore_v3 calls are BAD_REQUEST application errors, as in production: an empty kind,
a kind or name that is not UTF-8, sizes and ids near 2^63, a cursor that is not ours."""
from __future__ import annotations

import pytest

from gae_emu.apiserver.errors import RpcCode
from gae_emu.apiserver.protos import library_available, pb
from gae_emu.services.datastore import ErrorCode

from .conftest import APP_ID, NO_LIBRARY

pytestmark = pytest.mark.skipif(not library_available(), reason=NO_LIBRARY)


def _put_with_path(kind: bytes, name: bytes = b"n"):
    """A PutRequest whose kind and name may be any bytes: built with placeholders of the same
    length, then patched in the serialized form (Python's protobuf refuses to set invalid UTF-8)."""
    entity = pb().entity.EntityProto()
    entity.key.app = APP_ID
    element = entity.key.path.element.add()
    element.type, element.name = "K" * len(kind), "N" * len(name)
    entity.entity_group.SetInParent()
    raw = pb().datastore.PutRequest(entity=[entity]).SerializeToString()
    if kind:
        raw = raw.replace(b"\x12" + bytes([len(kind)]) + b"K" * len(kind), b"\x12" + bytes([len(kind)]) + kind)
    return raw.replace(b"\x22" + bytes([len(name)]) + b"N" * len(name), b"\x22" + bytes([len(name)]) + name)


def _call(rpc_app, method: str, payload: bytes):
    remote_api = pb().remote_api
    outer = remote_api.Request(service_name="datastore_v3", method=method, request_id="live-ticket", request=payload)
    response = remote_api.Response()
    response.ParseFromString(rpc_app.handle(outer.SerializeToString()))
    return response


@pytest.mark.parametrize("kind, name", [(b"", b"n"), (b"\xff\xfe", b"n"), (b"K", b"\xed\xa0\x80"), (b"K\xc3", b"n")])
def test_bad_kinds_and_names_are_bad_request_and_nothing_is_stored(rpc_app, testbed, kind, name):
    response = _call(rpc_app, "Put", _put_with_path(kind, name))
    assert response.HasField("application_error"), response
    assert response.application_error.code == ErrorCode.BAD_REQUEST
    assert testbed.services.datastore.kinds("") == []


def test_the_control_case_stores(rpc_app, testbed):
    response = _call(rpc_app, "Put", _put_with_path(b"Good", b"n"))
    assert not response.HasField("application_error") and not response.HasField("rpc_error"), response
    assert testbed.services.datastore.kinds("") == ["Good"]


def test_allocate_ids_sizes_near_2_63_are_bad_request(rpc_app):
    for size in (2 ** 63 - 1, 1000 * 1000 * 1000 + 1):
        request = pb().datastore.AllocateIdsRequest(size=size)
        request.model_key.app = APP_ID
        request.model_key.path.element.add(type="K")
        response = _call(rpc_app, "AllocateIds", request.SerializeToString())
        assert response.application_error.code == ErrorCode.BAD_REQUEST, response


def test_an_id_near_2_63_is_stored_without_moving_automatic_ids(rpc_app, testbed):
    entity = pb().entity.EntityProto()
    entity.key.app = APP_ID
    entity.key.path.element.add(type="Big", id=2 ** 63 - 1)
    entity.entity_group.SetInParent()
    response = _call(rpc_app, "Put", pb().datastore.PutRequest(entity=[entity]).SerializeToString())
    assert not response.HasField("application_error") and not response.HasField("rpc_error"), response
    request = pb().datastore.AllocateIdsRequest(size=1)
    request.model_key.app = APP_ID
    request.model_key.path.element.add(type="Big")
    reply = pb().datastore.AllocateIdsResponse()
    reply.ParseFromString(_call(rpc_app, "AllocateIds", request.SerializeToString()).response)
    assert 0 < reply.start < 2 ** 52


def test_a_foreign_cursor_is_bad_request(rpc_app):
    query = pb().datastore.Query(app=APP_ID, kind="K")
    query.compiled_cursor.position.start_key = b"\xff\xfe"
    response = _call(rpc_app, "RunQuery", query.SerializeToString())
    assert response.application_error.code == ErrorCode.BAD_REQUEST, response


def test_other_services_answer_invalid_utf8_with_rpc_bad_request(rpc_app):
    raw = pb().modules.GetHostnameRequest(module="x").SerializeToString().replace(b"\x01x", b"\x01\xff")
    remote_api = pb().remote_api
    outer = remote_api.Request(service_name="modules", method="GetHostname", request_id="live-ticket", request=raw)
    response = remote_api.Response()
    response.ParseFromString(rpc_app.handle(outer.SerializeToString()))
    assert response.rpc_error.code == RpcCode.BAD_REQUEST and "not valid UTF-8" in response.rpc_error.detail
