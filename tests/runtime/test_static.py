"""Static files: types, ETag/304, expiration, headers, path escapes, require_matching_file."""
from __future__ import annotations

import base64
import os
import zlib

APP = """
runtime: python27
api_version: 1
threadsafe: true
default_expiration: "1h"
handlers:
- url: /s
  static_dir: static
  http_headers:
    X-Extra: extra
- url: /img/(.*)\\.png
  static_files: images/\\1.png
  upload: images/.*\\.png
  expiration: "2d 3h"
- url: /maybe/(.*)
  static_files: maybe/\\1
  upload: maybe/.*
  require_matching_file: true
- url: /custom
  static_files: static/data.bin
  upload: static/data.bin
  mime_type: application/x-custom
- url: /.*
  script: main.app
"""

FILES = {
    "static/hello.html": "<p>hello</p>",
    "static/data.bin": "xyz",
    "images/logo.png": "PNGDATA",
    "secret.txt": "do not serve",
}


def test_static_dir_serves_with_type_etag_and_headers(make_router, client_for):
    client = client_for(make_router(APP, FILES))
    response = client.get("/s/hello.html")
    assert response.status_code == 200
    assert response.data == b"<p>hello</p>"
    assert response.mimetype == "text/html"
    expected = '"%s"' % base64.b64encode(str(zlib.crc32(b"<p>hello</p>")).encode()).decode()
    assert response.headers["ETag"] == expected
    assert response.headers["X-Extra"] == "extra"
    assert "max-age=3600" in response.headers["Cache-Control"]
    again = client.get("/s/hello.html", headers={"If-None-Match": expected})
    assert again.status_code == 304


def test_static_files_groups_and_expiration(make_router, client_for):
    client = client_for(make_router(APP, FILES))
    response = client.get("/img/logo.png")
    assert response.status_code == 200
    assert response.data == b"PNGDATA"
    assert response.mimetype == "image/png"
    assert "max-age=183600" in response.headers["Cache-Control"]


def test_mime_type_overrides_extension(make_router, client_for):
    client = client_for(make_router(APP, FILES))
    assert client.get("/custom").mimetype == "application/x-custom"


def test_missing_file_is_404_and_require_matching_file_falls_through(make_router, client_for):
    client = client_for(make_router(APP, FILES))
    assert client.get("/s/nope.html").status_code == 404
    response = client.get("/maybe/nothing")
    assert response.status_code == 200  # fell through to the script handler
    assert response.mimetype == "application/json"


def test_paths_escaping_the_static_dir_are_refused(make_router, client_for, tmp_path):
    router = make_router(APP, FILES)
    client = client_for(router)
    for path in ("/s/../secret.txt", "/s/%2e%2e/secret.txt", "/s/..%2fsecret.txt"):
        response = client.get(path)
        assert response.data != b"do not serve", path
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    os.symlink(outside, router.app.root / "static" / "link.txt")
    assert client.get("/s/link.txt").status_code == 404


def test_head_has_no_body(make_router, client_for):
    client = client_for(make_router(APP, FILES))
    response = client.head("/s/hello.html")
    assert response.status_code == 200
    assert response.data == b""
