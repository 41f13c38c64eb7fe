"""`blobstore` over the wire: CreateUploadURL, FetchData, DeleteBlob and DecodeBlobKey, answered by
the emulator's `BlobstoreService`.

The upload URL is `<scheme>://<host of the calling request>/_ah/upload/<session>`, so the form goes
back to the service that asked (the front end stores the files and forwards the rewritten form,
see `gae_emu.runtime.uploads`). Refusals keep production's BlobstoreServiceError codes, which the
client turns into `BlobNotFoundError`, `DataIndexOutOfRangeError`, `BlobFetchSizeTooLargeError`.

Not supported yet: Cloud Storage (`gs_bucket_name`, CreateEncodedGoogleStorageKey: CALL_NOT_FOUND),
CloneBlob.

Imports: the standard library, `gae_emu.services.blobstore`, this package.
"""
from __future__ import annotations

from typing import Any, Dict

from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler
from gae_emu.services.blobstore import BlobstoreError, BlobstoreService

UPLOAD_PATH = "/_ah/upload/"
PERMISSION_DENIED = 3


class Blobstore(ServiceHandler):
    name = "blobstore"

    def __init__(self, service: BlobstoreService) -> None:
        self.service = service

    def methods(self) -> Dict[str, Method]:
        b = pb().blobstore
        return {
            "CreateUploadURL": (b.CreateUploadURLRequest, self.create_upload_url),
            "FetchData": (b.FetchDataRequest, self.fetch_data),
            "DeleteBlob": (b.DeleteBlobRequest, self.delete_blob),
            "DecodeBlobKey": (b.DecodeBlobKeyRequest, self.decode_blob_key),
        }

    def create_upload_url(self, request: Any, call: Call) -> Any:
        if request.gs_bucket_name:
            raise ApplicationError(PERMISSION_DENIED, "gae-emu does not emulate Cloud Storage uploads (gs_bucket_name).")
        session = self.service.create_upload_session(
            request.success_path,
            request.max_upload_size_per_blob_bytes if request.HasField("max_upload_size_per_blob_bytes") else None,
            request.max_upload_size_bytes if request.HasField("max_upload_size_bytes") else None)
        host = call.environ.get("HTTP_HOST") or "localhost"
        scheme = call.environ.get("wsgi.url_scheme") or "http"
        return pb().blobstore.CreateUploadURLResponse(url=f"{scheme}://{host}{UPLOAD_PATH}{session}")

    def fetch_data(self, request: Any, call: Call) -> Any:
        try:
            data = self.service.fetch_data(request.blob_key, request.start_index, request.end_index)
        except BlobstoreError as exc:
            raise ApplicationError(exc.code, exc.message) from None
        return pb().blobstore.FetchDataResponse(data=data)

    def delete_blob(self, request: Any, call: Call) -> Any:
        self.service.delete(list(request.blob_key))
        return pb().api_base.VoidProto()

    def decode_blob_key(self, request: Any, call: Call) -> Any:
        # Keys of blobstore blobs are opaque and decode to themselves (only Cloud Storage keys differ).
        return pb().blobstore.DecodeBlobKeyResponse(decoded=list(request.blob_key))
