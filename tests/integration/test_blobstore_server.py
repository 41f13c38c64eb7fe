"""The blobstore under the real `gae-emu dev`: a Python 3 app on appengine-python-standard (no
gae-emu import) gets an upload URL, a browser-style multipart upload reaches its success handler with
blob keys, the blob is served back through X-AppEngine-BlobKey with byte ranges, survives a restart,
and is deleted."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import List, Tuple
from urllib.parse import urlsplit

import pytest

pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed (the test extra installs it)")
pytest.importorskip("flask", reason="flask is not installed (the test extra installs it)")

from gae_emu.testing import EmulatorHandle, HttpClient, emulator  # noqa: E402

APP = Path(__file__).resolve().parent / "apps" / "blobapp"
PICTURE = bytes(range(256)) * 40  # 10240 bytes


def multipart(fields: List[Tuple[str, str]], files: List[Tuple[str, str, str, bytes]]) -> Tuple[bytes, str]:
    """What a browser sends for a form with file inputs: (body, content type)."""
    boundary = "----WebKitFormBoundary" + uuid.uuid4().hex[:16]
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode() for n, v in fields]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"; filename="{f}"\r\n'
              f"Content-Type: {t}\r\n\r\n".encode() + data + b"\r\n" for n, f, t, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(handle: EmulatorHandle, files, fields=(("title", "holiday"),), client=None, **limits) -> Tuple[str, object]:
    client = client or handle.client
    query = "&".join(f"{k}={v}" for k, v in limits.items())
    url = client.get("/upload-url" + (f"?{query}" if query else "")).text
    body, ctype = multipart(list(fields), files)
    return url, client.post(urlsplit(url).path, data=body, headers={"Content-Type": ctype})


def test_upload_serve_ranges_restart_and_delete(tmp_path):
    storage = tmp_path / "storage"
    with emulator(APP / "app.yaml", storage_path=storage) as handle:
        client = HttpClient(handle.url)
        client.login("uploader@example.com")
        url, resp = upload(handle, [("picture", "cat.png", "image/png", PICTURE), ("empty", "", "application/octet-stream", b""),
                                    ("notes", "notes.txt", "text/plain", b"hello notes")], client=client)
        assert url.startswith(handle.url + "/_ah/upload/")
        assert resp.status == 200, resp.text
        result = resp.json()
        assert (result["title"], result["query"], result["user"]) == ("holiday", "form", "uploader@example.com")
        by_field = {b["field"]: b for b in result["blobs"]}
        assert set(by_field) == {"picture", "notes"}
        picture = by_field["picture"]
        assert (picture["filename"], picture["content_type"], picture["size"]) == ("cat.png", "image/png", len(PICTURE))
        assert picture["md5"] == hashlib.md5(PICTURE).hexdigest()
        key = picture["key"]

        served = handle.client.get(f"/serve/{key}")
        assert served.status == 200 and served.body == PICTURE
        assert served.headers["Content-Type"] == "image/png" and "X-AppEngine-BlobKey" not in served.headers
        ranged = handle.client.get(f"/serve/{key}", headers={"Range": "bytes=10-19"})
        assert ranged.status == 206 and ranged.body == PICTURE[10:20]
        assert ranged.headers["Content-Range"] == f"bytes 10-19/{len(PICTURE)}"
        assert handle.client.get(f"/serve/{key}?range=bytes=-4").body == PICTURE[-4:]
        assert handle.client.get(f"/serve/{key}", headers={"Range": f"bytes={len(PICTURE)}-"}).status == 416
        assert handle.client.get(f"/serve/{key}?type=application/x-mine").headers["Content-Type"] == "application/x-mine"
        assert handle.client.get("/serve/no-such-blob").status == 500

        again = upload(handle, [("picture", "x.png", "image/png", b"x")], client=client)
        assert handle.client.post(urlsplit(url).path, data=b"").status == 404  # a used URL is gone
        assert again[1].status == 200

        admin = HttpClient(handle.admin_url)
        listed = {b["filename"]: b for b in admin.get("/api/blobstore").json()["blobs"]}
        assert set(listed) == {"cat.png", "notes.txt", "x.png"} and listed["cat.png"]["key"] == key
        assert listed["notes.txt"]["md5_hash"] == hashlib.md5(b"hello notes").hexdigest()
        download = admin.get(f"/blobstore/{key}/download")
        assert download.body == PICTURE and download.headers["Content-Type"] == "application/octet-stream"
        assert "cat.png" in admin.get("/blobstore").text
        dropped = listed["x.png"]["key"]
        assert admin.post(f"/api/blobstore/{dropped}/delete", headers={"X-Requested-With": "t"}).json() == {"deleted": dropped}
        assert admin.post(f"/api/blobstore/{dropped}/delete", headers={"X-Requested-With": "t"}).status == 404

    with emulator(APP / "app.yaml", storage_path=storage) as handle:
        info = handle.client.get(f"/info/{key}").json()
        assert info["found"] and info["filename"] == "cat.png" and info["size"] == len(PICTURE)
        assert info["head"] == PICTURE[:5].decode("latin-1") and info["fetched"] == PICTURE[1:4].decode("latin-1")
        assert key in info["listed"] and len(info["listed"]) == 2
        assert handle.client.get(f"/fetch-too-much/{key}").text == "BlobFetchSizeTooLargeError"
        assert handle.client.post(f"/delete/{key}").status == 200
        assert handle.client.get(f"/info/{key}").json() == {"found": False}
        assert handle.client.get(f"/serve/{key}").status == 500


def test_upload_limits_answer_413_and_keep_nothing(tmp_path):
    with emulator(APP / "app.yaml", storage_path=tmp_path / "s") as handle:
        _, resp = upload(handle, [("f", "big.bin", "application/octet-stream", b"x" * 101)], max_bytes_per_blob=100)
        assert resp.status == 413
        _, resp = upload(handle, [("f", "a.bin", "application/octet-stream", b"x" * 60),
                                  ("g", "b.bin", "application/octet-stream", b"y" * 60)], max_bytes_total=100)
        assert resp.status == 413
        _, resp = upload(handle, [("f", "ok.bin", "application/octet-stream", b"x" * 100)], max_bytes_per_blob=100)
        assert resp.status == 200 and resp.json()["blobs"][0]["size"] == 100
        key = resp.json()["blobs"][0]["key"]
        assert handle.client.get(f"/info/{key}").json()["listed"] == [key]
        assert handle.client.get("/_ah/upload/unknown").status == 405
        assert handle.client.post("/_ah/upload/unknown", data=b"x").status == 404
