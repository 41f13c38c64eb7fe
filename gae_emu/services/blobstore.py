"""The blobstore: upload sessions, blob bytes, and each blob's `__BlobInfo__` entity.

As on App Engine, an app never writes a blob itself: it asks for an upload URL
(`create_upload_session`), the browser POSTs a form there, the front end stores each file
(`store_upload`) and forwards the rewritten form to the app. Reading is `fetch_data` (at most
MAX_BLOB_FETCH_SIZE bytes per call, production's limit) or `open` for serving; `delete` removes the
bytes and the info together.

The bytes live in a table of the app's SQLite storage; the metadata is a `__BlobInfo__` entity in
the datastore (empty namespace, key name = the blob key) with production's properties
(`content_type`, `creation`, `filename`, `size`, `md5_hash`), so `BlobInfo.get/all` and datastore
queries see it. Both are cleared with the datastore. An upload session is used once: the URL stops
working after its upload, as production's does.

Imports: the standard library, `gae_emu.storage`, `gae_emu.services.datastore`.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from gae_emu.services.datastore import DatastoreService, Entity, Key, make_property
from gae_emu.storage import Storage

BLOB_INFO_KIND = "__BlobInfo__"
MAX_BLOB_FETCH_SIZE = (1 << 20) - (1 << 15)  # 1015808 bytes, as the library and production say
MAX_NAME_LENGTH = 500  # filename and content type: a datastore string property's limit

# BlobstoreServiceError.ErrorCode of the library's blobstore_service.proto
BLOB_NOT_FOUND = 4
DATA_INDEX_OUT_OF_RANGE = 5
BLOB_FETCH_SIZE_TOO_LARGE = 6
ARGUMENT_OUT_OF_RANGE = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobstore_blobs (
    blob_key TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blobstore_sessions (
    session TEXT PRIMARY KEY,
    success_path TEXT NOT NULL,
    max_bytes_per_blob INTEGER,
    max_bytes_total INTEGER,
    created REAL NOT NULL
);
"""


class BlobstoreError(Exception):
    """A refused call; `code` is the wire's BlobstoreServiceError code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UploadTooLarge(Exception):
    """A file or the whole upload is over the session's limit (production answers 413)."""


class UnknownSession(Exception):
    """No such upload session, or it was used already (404)."""


class BadUpload(Exception):
    """The form cannot be stored (a filename or content type too long): 400 with this message."""


@dataclass(frozen=True)
class UploadSession:
    session: str
    success_path: str
    max_bytes_per_blob: Optional[int]
    max_bytes_total: Optional[int]


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class BlobInfo:
    key: str
    content_type: str
    filename: str
    size: int
    md5_hash: str
    creation: datetime.datetime


def new_blob_key() -> str:
    """An opaque, URL-safe key, long and random as production's are."""
    return base64.urlsafe_b64encode(secrets.token_bytes(48)).decode("ascii").rstrip("=")


class BlobstoreService:
    def __init__(self, storage: Storage, datastore: DatastoreService, app_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.datastore = datastore
        self.app_id = app_id
        self.clock = clock
        storage.ensure_schema("blobstore", SCHEMA)

    # -- uploads ----------------------------------------------------------------------------------

    def create_upload_session(self, success_path: str, max_bytes_per_blob: Optional[int] = None,
                              max_bytes_total: Optional[int] = None) -> str:
        session = new_blob_key()
        self.storage.write("INSERT INTO blobstore_sessions VALUES (?, ?, ?, ?, ?)",
                           [(session, success_path, max_bytes_per_blob, max_bytes_total, self.clock())])
        return session

    def session(self, session: str) -> UploadSession:
        with self.storage.read() as conn:
            row = conn.execute("SELECT session, success_path, max_bytes_per_blob, max_bytes_total FROM "
                               "blobstore_sessions WHERE session = ?", (session,)).fetchone()
        if row is None:
            raise UnknownSession(f"No such upload session: {session}")
        return UploadSession(*row)

    def store_upload(self, session: UploadSession, files: Sequence[UploadedFile]) -> List[BlobInfo]:
        """Store every file of one upload (all or none) and use the session up."""
        total = 0
        for upload in files:
            total += len(upload.data)
            if session.max_bytes_per_blob is not None and len(upload.data) > session.max_bytes_per_blob:
                raise UploadTooLarge(f"{upload.filename!r} is {len(upload.data)} bytes, over max_bytes_per_blob "
                                     f"{session.max_bytes_per_blob}.")
            if session.max_bytes_total is not None and total > session.max_bytes_total:
                raise UploadTooLarge(f"The upload is over max_bytes_total {session.max_bytes_total}.")
            for what, value in (("filename", upload.filename), ("Content-Type", upload.content_type)):
                if len(value) > MAX_NAME_LENGTH:
                    raise BadUpload(f"The {what} exceeds the maximum allowed length of {MAX_NAME_LENGTH}.")
        creation = datetime.datetime.utcfromtimestamp(self.clock())
        infos = [BlobInfo(new_blob_key(), f.content_type, f.filename, len(f.data), hashlib.md5(f.data).hexdigest(),
                          creation) for f in files]
        with self.storage.transaction() as conn:
            deleted = conn.execute("DELETE FROM blobstore_sessions WHERE session = ?", (session.session,)).rowcount
            if not deleted:
                raise UnknownSession(f"Upload session {session.session} was used already.")
            conn.executemany("INSERT INTO blobstore_blobs VALUES (?, ?)",
                             [(info.key, f.data) for info, f in zip(infos, files)])
            self.datastore.put([self._entity(info) for info in infos])
        return infos

    def _key(self, blob_key: str) -> Key:
        return Key.build(self.app_id, "", [(BLOB_INFO_KIND, blob_key)])

    def _entity(self, info: BlobInfo) -> Entity:
        return Entity(self._key(info.key), [
            make_property("content_type", info.content_type),
            make_property("creation", info.creation),
            make_property("filename", info.filename),
            make_property("size", info.size),
            make_property("md5_hash", info.md5_hash),
        ])

    # -- reading ----------------------------------------------------------------------------------

    def info(self, blob_key: str) -> Optional[BlobInfo]:
        if not blob_key:  # no entity can have an empty name
            return None
        [entity] = self.datastore.get([self._key(blob_key)])
        if entity is None:
            return None

        def value(name: str, default):
            prop = entity.properties.get(name)
            return prop.values[0].data if prop is not None and prop.values else default

        return BlobInfo(blob_key, value("content_type", "application/octet-stream"), value("filename", ""),
                        value("size", 0), value("md5_hash", ""), value("creation", None))

    def infos(self) -> List[BlobInfo]:
        with self.storage.read() as conn:
            keys = [row[0] for row in conn.execute("SELECT blob_key FROM blobstore_blobs")]
        found = [self.info(k) for k in keys]
        return sorted((i for i in found if i is not None), key=lambda i: (i.creation, i.key), reverse=True)

    def open(self, blob_key: str) -> Optional[Tuple[BlobInfo, bytes]]:
        """The blob's info and bytes, or None when either is gone."""
        info = self.info(blob_key)
        if info is None:
            return None
        with self.storage.read() as conn:
            row = conn.execute("SELECT data FROM blobstore_blobs WHERE blob_key = ?", (blob_key,)).fetchone()
        return (info, bytes(row[0])) if row else None

    def fetch_data(self, blob_key: str, start: int, end: int) -> bytes:
        """Bytes start..end inclusive, as FetchData answers (cut at the blob's end)."""
        if start < 0:
            raise BlobstoreError(DATA_INDEX_OUT_OF_RANGE, "May not fetch blob at negative index.")
        if end < start:
            raise BlobstoreError(DATA_INDEX_OUT_OF_RANGE, f"Start index {start} > end index {end}.")
        if end - start + 1 > MAX_BLOB_FETCH_SIZE:
            raise BlobstoreError(BLOB_FETCH_SIZE_TOO_LARGE,
                                 f"Blob fetch size {end - start + 1} is larger than {MAX_BLOB_FETCH_SIZE}.")
        if self.info(blob_key) is None:
            raise BlobstoreError(BLOB_NOT_FOUND, f"Blob {blob_key!r} not found.")
        with self.storage.read() as conn:
            row = conn.execute("SELECT substr(data, ?, ?) FROM blobstore_blobs WHERE blob_key = ?",
                               (start + 1, end - start + 1, blob_key)).fetchone()
        if row is None:
            raise BlobstoreError(BLOB_NOT_FOUND, f"Blob {blob_key!r} not found.")
        return bytes(row[0])

    # -- deleting ---------------------------------------------------------------------------------

    def delete(self, blob_keys: Sequence[str]) -> None:
        """Delete blobs and their infos; unknown keys are ignored, as production ignores them."""
        blob_keys = [k for k in blob_keys if k]
        with self.storage.transaction() as conn:
            conn.executemany("DELETE FROM blobstore_blobs WHERE blob_key = ?", [(k,) for k in blob_keys])
            self.datastore.delete([self._key(k) for k in blob_keys])

    def reset(self) -> None:
        with self.storage.transaction() as conn:
            conn.execute("DELETE FROM blobstore_blobs")
            conn.execute("DELETE FROM blobstore_sessions")
