"""X-AppEngine-BlobKey serving on a plain (status, headers, body) response: ranges, content types,
416 and 500 as the SDK's download rewriter (production's behaviour) answers."""
from __future__ import annotations

import pytest

from gae_emu.runtime.blobserving import parse_range, serve_blob
from gae_emu.runtime.router import BufferedResponse
from gae_emu.testing import services


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-9", (0, 10)), ("bytes=5-", (5, None)), ("bytes=-3", (-3, None)), ("bytes= 2-2", (2, 3)),
    ("bytes=-0", None), ("bytes=4-2", None), ("bytes=1-2,4-5", None), ("items=1-2", None), ("bytes=a-b", None),
])
def test_parse_range(header, expected):
    assert parse_range(header) == expected


@pytest.fixture
def blob(tmp_path):
    from gae_emu.services.blobstore import UploadedFile

    with services(storage_path=tmp_path / "s") as bed:
        service = bed.services.blobstore
        session = service.session(service.create_upload_session("/"))
        [info] = service.store_upload(session, [UploadedFile("f", "a.png", "image/png", b"0123456789")])
        yield info.key


def answer(headers, status="200 OK", environ=None):
    return serve_blob(BufferedResponse(status, list(headers), b"app body"), environ or {})


def test_serving_whole_ranged_and_refused(blob):
    whole = answer([("X-AppEngine-BlobKey", blob)])
    assert (whole.status, whole.body, dict(whole.headers)) == ("200 OK", b"0123456789", {"Content-Type": "image/png"})
    ranged = answer([("X-AppEngine-BlobKey", blob), ("X-AppEngine-BlobRange", "bytes=2-4")], environ={"HTTP_RANGE": "bytes=0-0"})
    assert (ranged.status, ranged.body, dict(ranged.headers)["Content-Range"]) == ("206 Partial Content", b"234", "bytes 2-4/10")
    tail = answer([("X-AppEngine-BlobKey", blob)], environ={"HTTP_RANGE": "bytes=-20"})
    assert tail.body == b"0123456789" and dict(tail.headers)["Content-Range"] == "bytes 0-9/10"
    bad = answer([("X-AppEngine-BlobKey", blob), ("Content-Type", "text/plain")], environ={"HTTP_RANGE": "bytes=10-"})
    assert (bad.status, bad.body, dict(bad.headers)) == ("416 Requested Range Not Satisfiable", b"", {"Content-Range": "*/10"})
    own_type = answer([("X-AppEngine-BlobKey", blob), ("Content-Type", "application/x-own")])
    assert dict(own_type.headers)["Content-Type"] == "application/x-own"
    auto = answer([("X-AppEngine-BlobKey", blob), ("Content-Type", "application/vnd.google.appengine.auto")])
    assert dict(auto.headers)["Content-Type"] == "image/png"
    assert answer([("X-AppEngine-BlobKey", "missing")]).status == "500 Internal Server Error"
    assert answer([("X-AppEngine-BlobKey", blob)], status="404 Not Found").status == "500 Internal Server Error"
    plain = BufferedResponse("200 OK", [("Content-Type", "text/plain")], b"x")
    assert serve_blob(plain, {}) is plain
