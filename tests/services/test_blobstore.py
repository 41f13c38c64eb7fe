"""The blobstore service in-process: one-time upload sessions and their limits, BlobInfo entities the
datastore sees, FetchData's production limits and codes, delete and reset."""
from __future__ import annotations

import hashlib

import pytest

from gae_emu.services.blobstore import (BLOB_FETCH_SIZE_TOO_LARGE, BLOB_INFO_KIND, BLOB_NOT_FOUND,
                                        DATA_INDEX_OUT_OF_RANGE, MAX_BLOB_FETCH_SIZE, BadUpload, BlobstoreError,
                                        BlobstoreService, UnknownSession, UploadedFile, UploadTooLarge)
from gae_emu.services.datastore import DatastoreService, Query
from gae_emu.storage import Storage

APP = "dev~blobs"


@pytest.fixture
def service(tmp_path):
    storage = Storage.in_directory(tmp_path / "db")
    yield BlobstoreService(storage, DatastoreService(storage), APP, clock=lambda: 1_700_000_000.5)
    storage.close()


def stored(service, *files, **limits):
    session = service.session(service.create_upload_session("/done", **limits))
    return service.store_upload(session, [UploadedFile("f", name, ctype, data) for name, ctype, data in files])


def test_upload_stores_blobs_with_infos_the_datastore_sees(service):
    [info] = stored(service, ("a.txt", "text/plain", b"hello"))
    assert (info.filename, info.content_type, info.size, info.md5_hash) == ("a.txt", "text/plain", 5,
                                                                             hashlib.md5(b"hello").hexdigest())
    assert service.info(info.key) == info and service.open(info.key) == (info, b"hello")
    [entity] = service.datastore.run_query(Query(app=APP, kind=BLOB_INFO_KIND)).entities
    assert entity.key.name() == info.key
    assert {name: p.values[0].data for name, p in entity.properties.items()}["size"] == 5


def test_sessions_are_used_once_and_limits_keep_nothing(service):
    session_id = service.create_upload_session("/done", max_bytes_per_blob=3, max_bytes_total=5)
    session = service.session(session_id)
    with pytest.raises(UploadTooLarge):
        service.store_upload(session, [UploadedFile("f", "a", "x/y", b"1234")])
    with pytest.raises(UploadTooLarge):
        service.store_upload(session, [UploadedFile("f", "a", "x/y", b"123"), UploadedFile("g", "b", "x/y", b"123")])
    with pytest.raises(BadUpload):
        service.store_upload(session, [UploadedFile("f", "n" * 501, "x/y", b"1")])
    assert service.infos() == []
    service.store_upload(session, [UploadedFile("f", "a", "x/y", b"123")])
    with pytest.raises(UnknownSession):
        service.session(session_id)
    with pytest.raises(UnknownSession):
        service.store_upload(session, [])


def test_fetch_data_limits_and_codes(service):
    [info] = stored(service, ("a.bin", "application/octet-stream", bytes(range(10))))
    assert service.fetch_data(info.key, 2, 4) == bytes([2, 3, 4])
    assert service.fetch_data(info.key, 8, 100) == bytes([8, 9])
    for start, end, code in [(-1, 2, DATA_INDEX_OUT_OF_RANGE), (5, 4, DATA_INDEX_OUT_OF_RANGE),
                             (0, MAX_BLOB_FETCH_SIZE, BLOB_FETCH_SIZE_TOO_LARGE)]:
        with pytest.raises(BlobstoreError) as caught:
            service.fetch_data(info.key, start, end)
        assert caught.value.code == code
    assert len(service.fetch_data(info.key, 0, MAX_BLOB_FETCH_SIZE - 1)) == 10
    for missing in ("missing", ""):
        with pytest.raises(BlobstoreError) as caught:
            service.fetch_data(missing, 0, 1)
        assert caught.value.code == BLOB_NOT_FOUND


def test_delete_and_reset(service):
    first, second = stored(service, ("a", "x/y", b"1"), ("b", "x/y", b"2"))
    service.delete([first.key, "unknown", ""])
    assert service.open(first.key) is None and service.info(first.key) is None
    assert [i.key for i in service.infos()] == [second.key]
    service.reset()
    service.datastore.reset()
    assert service.infos() == [] and service.open(second.key) is None
