"""blobstore through the wire format: the upload URL names the calling request's host, FetchData's
refusals carry production's codes, DeleteBlob and DecodeBlobKey answer as the library expects."""
from __future__ import annotations

from typing import Any

import pytest

from gae_emu.apiserver.protos import pb

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)


def b() -> Any:
    return pb().blobstore


def test_upload_url_session_and_fetch_data(rpc, testbed):
    from gae_emu.services.blobstore import UploadedFile

    reply = rpc.ok("blobstore", "CreateUploadURL", b().CreateUploadURLRequest(success_path="/done?x=1",
                                                                                max_upload_size_bytes=10),
                   b().CreateUploadURLResponse)
    assert reply.url.startswith("http://localhost:8080/_ah/upload/")
    service = testbed.services.blobstore
    session = service.session(reply.url.rsplit("/", 1)[1])
    assert (session.success_path, session.max_bytes_total, session.max_bytes_per_blob) == ("/done?x=1", 10, None)
    [info] = service.store_upload(session, [UploadedFile("f", "a", "text/plain", b"abcdef")])
    data = rpc.ok("blobstore", "FetchData", b().FetchDataRequest(blob_key=info.key, start_index=1, end_index=3),
                  b().FetchDataResponse).data
    assert data == b"bcd"
    assert rpc.app_error("blobstore", "FetchData", b().FetchDataRequest(blob_key=info.key, start_index=3,
                                                                        end_index=1)).code == 5
    assert rpc.app_error("blobstore", "FetchData", b().FetchDataRequest(blob_key="nope", start_index=0,
                                                                        end_index=1)).code == 4
    decoded = rpc.ok("blobstore", "DecodeBlobKey", b().DecodeBlobKeyRequest(blob_key=[info.key]),
                     b().DecodeBlobKeyResponse)
    assert list(decoded.decoded) == [info.key]
    rpc.ok("blobstore", "DeleteBlob", b().DeleteBlobRequest(blob_key=[info.key]), pb().api_base.VoidProto)
    assert service.open(info.key) is None


def test_cloud_storage_uploads_are_refused_by_name(rpc):
    error = rpc.app_error("blobstore", "CreateUploadURL", b().CreateUploadURLRequest(success_path="/",
                                                                                     gs_bucket_name="bucket"))
    assert error.code == 3 and "gs_bucket_name" in error.detail
