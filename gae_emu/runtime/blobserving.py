"""Serving blobs as App Engine's front end does: a response carrying `X-AppEngine-BlobKey` has its
body replaced by the blob's bytes.

Rules (the SDK's download rewriter, which follows production): the app's own Content-Type wins
unless it is absent or `application/vnd.google.appengine.auto`, else the blob's is used;
`X-AppEngine-BlobRange` from the app, or else the request's `Range`, selects one byte range
(`bytes=a-b`, `bytes=a-`, `bytes=-n`) answered 206 with Content-Range; a range that cannot be met is
416 with `Content-Range: */size`; an unknown blob, or an app status other than 200, is a 500 with an
empty body and a logged error. Both X-AppEngine headers are removed from what the client sees.

The response is the app's answer as plain status, headers and body (any object with `status`,
`headers` and `body`), so this works on whatever way the app's answer came back.

Imports: the standard library, `gae_emu.apiproxy`.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Tuple

from gae_emu import apiproxy

log = logging.getLogger("gae_emu.blobstore")

BLOB_KEY_HEADER = "x-appengine-blobkey"
BLOB_RANGE_HEADER = "x-appengine-blobrange"
AUTO_MIME_TYPE = "application/vnd.google.appengine.auto"
Headers = List[Tuple[str, str]]


def parse_range(value: str) -> Optional[Tuple[int, Optional[int]]]:
    """(start, end exclusive or None) of a single `bytes=` range; start < 0 counts from the end.
    None when the header is not one range we can serve."""
    unit, _, spec = value.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    spec = spec.strip()
    try:
        if spec.startswith("-"):
            start = int(spec)
            return (start, None) if start != 0 else None
        first, _, last = spec.partition("-")
        start = int(first)
        end = int(last) + 1 if last.strip() else None
    except ValueError:
        return None
    if start < 0 or (end is not None and start > end - 1):
        return None
    return start, end


def _header(headers: Headers, name: str) -> Optional[str]:
    return next((v for k, v in headers if k.lower() == name), None)


def _without(headers: Headers, *names: str) -> Headers:
    return [(k, v) for k, v in headers if k.lower() not in names]


def serve_blob(response: Any, environ: dict) -> Any:
    """The response itself, or, if it names a blob, the response carrying that blob."""
    headers = getattr(response, "headers", None)
    blob_key = _header(headers, BLOB_KEY_HEADER) if isinstance(headers, list) else None
    if blob_key is None:
        return response
    wanted = _header(headers, BLOB_RANGE_HEADER) or environ.get("HTTP_RANGE")
    headers = _without(headers, BLOB_KEY_HEADER, BLOB_RANGE_HEADER, "content-length")
    service = apiproxy.current().blobstore
    found = service.open(blob_key) if service is not None else None
    if found is None or response.status_code != 200:
        if found is None:
            log.error("Could not find blob with key %s.", blob_key)
        else:
            log.error("Blob-serving response with status %d, expected 200.", response.status_code)
        return type(response)("500 Internal Server Error", _without(headers, "content-type"), b"")
    info, data = found
    size = len(data)
    status = "200 OK"
    if wanted:
        parsed = parse_range(wanted)
        start = parsed[0] if parsed else 0
        if parsed is None or start >= size:
            return type(response)("416 Requested Range Not Satisfiable",
                                  _without(headers, "content-type") + [("Content-Range", f"*/{size}")], b"")
        start = max(size + start, 0) if start < 0 else start
        end = min(parsed[1], size) if parsed[1] is not None else size
        data = data[start:end]
        status = "206 Partial Content"
        headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
    content_type = _header(headers, "content-type")
    if not content_type or content_type == AUTO_MIME_TYPE:
        headers = _without(headers, "content-type") + [("Content-Type", info.content_type)]
    return type(response)(status, headers, data)
