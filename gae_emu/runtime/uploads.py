"""Blobstore uploads as App Engine's front end handles them: a multipart POST to
`/_ah/upload/<session>` has its files stored as blobs, and the form, rewritten, goes on to the
session's success path.

The rewrite follows production (and the SDK's upload handler, which copies it): each file part
becomes a `message/external-body; blob-key=...; access-type=X-AppEngine-BlobKey` part whose body
holds the file's headers (its Content-Type, Content-Length, Content-MD5 as production writes it: the
urlsafe base64 of the hex digest, X-AppEngine-Upload-Creation and Content-Disposition), which
`blobstore.parse_blob_info` and the upload handlers read; other fields are copied as text parts; a
file field left empty is dropped. The forwarded request keeps the original's headers (cookies, so
the user too) and goes through the same router, so the success path's `login:` applies.

Answers of the front end itself: 405 for anything but POST, 404 for an unknown or used session,
413 when a file or the total is over the session's `max_bytes_per_blob` / `max_bytes_total` (no
blob is kept), 400 for a body that is not multipart/form-data.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, `gae_emu.services.blobstore`.
"""
from __future__ import annotations

import base64
import io
import logging
import uuid
from typing import Any, Callable, List, Tuple
from urllib.parse import urlsplit

from werkzeug.formparser import parse_form_data
from werkzeug.wrappers import Response

from gae_emu import apiproxy
from gae_emu.services.blobstore import BadUpload, BlobInfo, UnknownSession, UploadedFile, UploadTooLarge

log = logging.getLogger("gae_emu.blobstore")

UPLOAD_PREFIX = "/_ah/upload/"
CREATION_HEADER = "X-AppEngine-Upload-Creation"
Forward = Callable[[dict], Any]


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _creation(info: BlobInfo) -> str:
    return info.creation.strftime("%Y-%m-%d %H:%M:%S.%f")


def _file_part(name: str, upload: UploadedFile, info: BlobInfo) -> bytes:
    external = (f"Content-Type: {upload.content_type}\r\n"
                f"Content-Length: {info.size}\r\n"
                f"Content-MD5: {base64.urlsafe_b64encode(info.md5_hash.encode()).decode()}\r\n"
                f"{CREATION_HEADER}: {_creation(info)}\r\n"
                f"Content-Disposition: form-data; name=\"{_quote(name)}\"; filename=\"{_quote(upload.filename)}\"\r\n\r\n")
    return (f"Content-Type: message/external-body; blob-key=\"{info.key}\"; access-type=\"X-AppEngine-BlobKey\"\r\n"
            f"Content-Disposition: form-data; name=\"{_quote(name)}\"; filename=\"{_quote(upload.filename)}\"\r\n"
            f"\r\n{external}").encode("utf-8")


def _text_part(name: str, value: str) -> bytes:
    return (f"Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: form-data; name=\"{_quote(name)}\"\r\n\r\n"
            .encode("utf-8") + value.encode("utf-8"))


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def handle_upload(environ: dict, forward: Forward) -> Any:
    """Serve one request under /_ah/upload/: store, rewrite, and `forward` the new environ."""
    if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
        return _plain(405, "Uploads must be POSTed.")
    service = apiproxy.current().blobstore
    session_id = environ.get("PATH_INFO", "")[len(UPLOAD_PREFIX):].strip("/")
    try:
        session = service.session(session_id)
    except UnknownSession as exc:
        return _plain(404, str(exc))
    if not (environ.get("CONTENT_TYPE") or "").lower().startswith("multipart/form-data"):
        return _plain(400, "An upload must be multipart/form-data.")
    _, form, files = parse_form_data(environ, silent=False, max_form_memory_size=None)
    fields: List[Tuple[str, Any]] = []  # (name, str value or UploadedFile), in the form's order
    for name, value in form.items(multi=True):
        fields.append((name, value))
    uploads: List[Tuple[str, UploadedFile]] = []
    for name, storage in files.items(multi=True):
        if not storage.filename:
            continue  # a file input left empty
        upload = UploadedFile(name, storage.filename, storage.mimetype or "application/octet-stream", storage.read())
        uploads.append((name, upload))
    try:
        infos = service.store_upload(session, [u for _, u in uploads])
    except UploadTooLarge as exc:
        return _plain(413, str(exc))
    except BadUpload as exc:
        return _plain(400, str(exc))
    except UnknownSession as exc:
        return _plain(404, str(exc))
    log.info("upload %s stored %s", session_id, ", ".join(f"{i.filename} ({i.size} bytes)" for i in infos) or "no files")
    boundary = "gae-emu-" + uuid.uuid4().hex
    parts = [_text_part(name, value) for name, value in fields]
    parts += [_file_part(name, upload, info) for (name, upload), info in zip(uploads, infos)]
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    target = urlsplit(session.success_path)
    forwarded = dict(environ)
    for stale in ("HTTP_CONTENT_MD5", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"):
        forwarded.pop(stale, None)
    forwarded.update({
        "PATH_INFO": target.path or "/",
        "QUERY_STRING": target.query,
        "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    })
    return forward(forwarded)
