"""The admin console's Blobstore page and its JSON API: every blob with its info, a download
link and a delete button (the SDK's dev console had the same viewer).

Downloads are `application/octet-stream` with `Content-Disposition: attachment`, so an uploaded
HTML file is never rendered as a page of the console's origin; every value shown is escaped.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, `gae_emu.services.blobstore`, the
console's `admin_html`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from gae_emu import apiproxy
from gae_emu.services.blobstore import BlobInfo, BlobstoreService

from .admin_html import html, join, layout, link, post_button, table, url, with_query

if TYPE_CHECKING:
    from .admin import Context


def _service() -> BlobstoreService:
    service = apiproxy.current().blobstore
    if service is None:
        raise ServiceUnavailable("No blobstore is running in this process.")
    return service


def blob_dict(info: BlobInfo) -> Dict[str, Any]:
    return {"key": info.key, "filename": info.filename, "content_type": info.content_type, "size": info.size,
            "md5_hash": info.md5_hash, "creation": info.creation.isoformat() + "Z" if info.creation else None}


def page(ctx: Context) -> str:
    infos = _service().infos()
    rows = [[html('<code class="blob-key">{}</code>', i.key[:16] + "…"), i.filename, i.content_type, i.size,
             i.creation.strftime("%Y-%m-%d %H:%M:%SZ") if i.creation else "",
             join([link(url(ctx.base, "blobstore", i.key, "download"), "Download", class_="download"), " ",
                   post_button(url(ctx.base, "blobstore", i.key, "delete"), "Delete", ctx.token, "delete danger")])]
            for i in infos]
    body = join([
        html("<p>Blobs uploaded through <code>create_upload_url()</code>, newest first.</p>"),
        table(["Key", "Filename", "Content type", "Bytes", "Created", "Actions"], rows, "No blobs.",
              [f"blob-{i.key}" for i in infos]),
    ])
    return layout("Blobstore", body, ctx.base, ctx.request.args.get("msg"), ctx.request.args.get("error") == "1")


def download(ctx: Context, key: str) -> Response:
    found = _service().open(key)
    if found is None:
        raise NotFound(f"No blob with key {key}.")
    info, data = found
    response = Response(data, mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=info.filename or "blob")
    return response


def _delete(key: str) -> BlobInfo:
    info = _service().info(key)
    if info is None:
        raise NotFound(f"No blob with key {key}.")
    _service().delete([key])
    return info


def delete_form(ctx: Context, key: str) -> Response:
    info = _delete(key)
    return redirect(with_query(url(ctx.base, "blobstore"), msg=f"Blob {info.filename or key} deleted."), code=303)


def api_list(ctx: Context) -> Dict[str, Any]:
    return {"blobs": [blob_dict(i) for i in _service().infos()]}


def api_delete(ctx: Context, key: str) -> Dict[str, Any]:
    _delete(key)
    return {"deleted": key}
