"""The blobstore as a Python 3 app uses it: an upload URL, a success handler that reads the blob
keys from the rewritten form, serving through X-AppEngine-BlobKey, BlobInfo, BlobReader, delete."""
import cgi
import io

from flask import Flask, Response, jsonify, request
from google.appengine.api import users, wrap_wsgi_app
from google.appengine.ext import blobstore

app = Flask(__name__)
app.wsgi_app = wrap_wsgi_app(app.wsgi_app)


@app.get("/upload-url")
def upload_url():
    limits = {k: int(request.args[k]) for k in ("max_bytes_per_blob", "max_bytes_total") if k in request.args}
    return blobstore.create_upload_url("/uploaded?from=form", **limits)


@app.post("/uploaded")
def uploaded():
    """Reads the rewritten form the way webapp's BlobstoreUploadHandler does (cgi.FieldStorage)."""
    environ = dict(request.environ)
    environ["wsgi.input"] = io.BytesIO(request.get_data())
    form = cgi.FieldStorage(fp=environ["wsgi.input"], environ=environ, keep_blank_values=True)
    blobs = []
    for name in form.keys():
        items = form[name] if isinstance(form[name], list) else [form[name]]
        for item in items:
            if item.filename:
                info = blobstore.parse_blob_info(item)
                blobs.append({"field": name, "key": str(info.key()), "filename": info.filename,
                              "content_type": info.content_type, "size": info.size,
                              "md5": info.md5_hash.decode() if isinstance(info.md5_hash, bytes) else info.md5_hash})
    user = users.get_current_user()
    return jsonify(blobs=blobs, title=form.getfirst("title"), query=request.args.get("from"),
                   user=user.email() if user else None)


@app.get("/serve/<key>")
def serve(key):
    headers = {blobstore.BLOB_KEY_HEADER: key}
    if request.args.get("range"):
        headers[blobstore.BLOB_RANGE_HEADER] = request.args["range"]
    if request.args.get("type"):
        headers["Content-Type"] = request.args["type"]
    response = Response("this body is replaced", headers=headers)
    if not request.args.get("type"):
        del response.headers["Content-Type"]
    return response


@app.get("/info/<key>")
def info(key):
    found = blobstore.BlobInfo.get(key)
    if found is None:
        return jsonify(found=False)
    reader = blobstore.BlobReader(key, buffer_size=4)
    return jsonify(found=True, filename=found.filename, size=found.size, content_type=found.content_type,
                   creation=found.creation.isoformat(), md5=found.md5_hash, head=reader.read(5).decode("latin-1"),
                   fetched=blobstore.fetch_data(key, 1, 3).decode("latin-1"),
                   listed=sorted(str(b.key()) for b in blobstore.BlobInfo.all()))


@app.get("/fetch-too-much/<key>")
def fetch_too_much(key):
    try:
        blobstore.fetch_data(key, 0, blobstore.MAX_BLOB_FETCH_SIZE + 1)
    except blobstore.Error as exc:
        return type(exc).__name__
    return "no error"


@app.post("/delete/<key>")
def delete(key):
    blobstore.delete(key)
    return "deleted"
