"""Outbound mail: the messages an app sends, kept in the app's storage instead of leaving the machine.

`MailService.send()` makes the checks App Engine's mail service makes on the server (attachment file
types it refuses, header names outside its allow list, a message without a sender, a recipient or a
body), stores the message with its attachments, logs one console line (`mail from → to: subject`)
and, when a relay is configured, hands it to the relay (`services.mail_relay`). The console page,
its JSON API and the pytest plugin read the stored messages back, oldest first.

As the SDK's dev server did, any sender is accepted (production accepts only the app's admins,
its service account and addresses of the app's domain). A relay failure is logged, never raised:
production's mail service sends asynchronously too, and reports delivery failures as bounces.

State lives in two tables of the app's SQLite storage, so sent mail survives a restart and is
cleared with the datastore (`--clear-datastore`, the console's reset).

Imports: the standard library, `gae_emu.storage`.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

from gae_emu.storage import Storage

log = logging.getLogger("gae_emu.mail")

# MailServiceError.ErrorCode of the library's mail_service.proto
BAD_REQUEST = 2
INVALID_ATTACHMENT_TYPE = 4
INVALID_HEADER_NAME = 5

# File types production refuses as attachments (Mail API docs, "Mail with attachments"); the
# library's client refuses the same list before calling, so apps reach this only by building the
# message themselves.
BLOCKED_EXTENSIONS = frozenset("""
ade adp bat chm cmd com cpl exe hta ins isp jse lib mde msc msp mst pif scr sct shb sys vb vbe vbs vxd
wsc wsf wsh
""".split())

# Headers an app may set (Mail API docs, "Mail headers"): any other is INVALID_HEADER_NAME.
ALLOWED_HEADERS = frozenset(h.lower() for h in """
Auto-Submitted In-Reply-To List-Id List-Unsubscribe On-Behalf-Of References Resent-Date Resent-From
Resent-To
""".split())

SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sent_at REAL NOT NULL,
    to_admins INTEGER NOT NULL,
    fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_attachments (
    message_id INTEGER NOT NULL REFERENCES mail_messages(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_id TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (message_id, position)
);
"""
TEXT_FIELDS = ("sender", "reply_to", "subject", "body", "html", "amp_html")
LIST_FIELDS = ("to", "cc", "bcc")


class MailError(Exception):
    """The mail service refused a message; `code` is the wire's MailServiceError code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    content_id: str = ""


@dataclass(frozen=True)
class MailMessage:
    """One message as the app handed it over (the fields of the API's MailMessage)."""

    sender: str
    to: Tuple[str, ...] = ()
    cc: Tuple[str, ...] = ()
    bcc: Tuple[str, ...] = ()
    reply_to: str = ""
    subject: str = ""
    body: str = ""
    html: str = ""
    amp_html: str = ""
    attachments: Tuple[Attachment, ...] = ()
    headers: Tuple[Tuple[str, str], ...] = ()
    to_admins: bool = False  # sent with SendToAdmins: no recipients of its own


@dataclass(frozen=True)
class SentMail:
    """A stored message: its number (oldest is lowest) and when it was sent."""

    id: int
    sent_at: float
    message: MailMessage = field(repr=False)


Relay = Callable[[MailMessage], None]


def validate(message: MailMessage) -> None:
    """The checks production's mail service makes on the server (MailError on the first failing one)."""
    if not message.sender:
        raise MailError(BAD_REQUEST, "Missing sender.")
    if not message.to_admins and not (message.to or message.cc or message.bcc):
        raise MailError(BAD_REQUEST, "Message must have at least one recipient (to, cc or bcc).")
    if not (message.body or message.html):
        raise MailError(BAD_REQUEST, "Message must have a text or HTML body.")
    for attachment in message.attachments:
        extension = attachment.filename.rpartition(".")[2].lower() if "." in attachment.filename else ""
        if extension in BLOCKED_EXTENSIONS:
            raise MailError(INVALID_ATTACHMENT_TYPE, f"Invalid attachment type: extension {extension!r} of "
                                                     f"{attachment.filename!r} is not allowed.")
    for name, _ in message.headers:
        if name.lower() not in ALLOWED_HEADERS:
            raise MailError(INVALID_HEADER_NAME, f"Header {name!r} is not allowed in outgoing mail.")


def console_line(message: MailMessage) -> str:
    to = "(admins)" if message.to_admins else ", ".join(message.to + message.cc + message.bcc)
    return f"mail {message.sender} → {to}: {message.subject}"


class MailService:
    """Sent mail, stored in the app's storage (and optionally relayed)."""

    def __init__(self, storage: Storage, relay: Optional[Relay] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.relay = relay
        self.clock = clock
        storage.ensure_schema("mail", SCHEMA)

    def send(self, message: MailMessage) -> SentMail:
        validate(message)
        sent_at = self.clock()
        fields = {name: getattr(message, name) for name in TEXT_FIELDS + LIST_FIELDS}
        fields["headers"] = [list(h) for h in message.headers]
        with self.storage.transaction() as conn:
            cursor = conn.execute("INSERT INTO mail_messages (sent_at, to_admins, fields) VALUES (?, ?, ?)",
                                  (sent_at, int(message.to_admins), json.dumps(fields)))
            message_id = int(cursor.lastrowid)
            conn.executemany(
                "INSERT INTO mail_attachments (message_id, position, filename, content_id, data) VALUES (?, ?, ?, ?, ?)",
                [(message_id, i, a.filename, a.content_id, a.data) for i, a in enumerate(message.attachments)])
        log.info("%s", console_line(message))
        if self.relay is not None and not message.to_admins:  # admins' addresses are unknown locally
            try:
                self.relay(message)
            except Exception as exc:  # stored already; production reports failures as bounces
                log.error("mail %d could not be relayed: %s", message_id, exc)
        return SentMail(message_id, sent_at, message)

    def list(self, offset: int = 0, limit: Optional[int] = None) -> List[SentMail]:
        """Stored messages, oldest first."""
        with self.storage.read() as conn:
            rows = conn.execute("SELECT id, sent_at, to_admins, fields FROM mail_messages ORDER BY id LIMIT ? OFFSET ?",
                                (-1 if limit is None else limit, offset)).fetchall()
            attachments = self._attachments(conn, [r[0] for r in rows])
        return [self._sent(row, attachments.get(row[0], ())) for row in rows]

    def get(self, message_id: int) -> Optional[SentMail]:
        with self.storage.read() as conn:
            row = conn.execute("SELECT id, sent_at, to_admins, fields FROM mail_messages WHERE id = ?",
                               (message_id,)).fetchone()
            attachments = self._attachments(conn, [message_id]) if row else {}
        return self._sent(row, attachments.get(message_id, ())) if row else None

    def count(self) -> int:
        with self.storage.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM mail_messages").fetchone()[0])

    def reset(self) -> None:
        """Forget every sent message."""
        with self.storage.transaction() as conn:
            conn.execute("DELETE FROM mail_attachments")
            conn.execute("DELETE FROM mail_messages")

    @staticmethod
    def _attachments(conn, ids: Sequence[int]) -> dict:
        found: dict = {}
        if not ids:
            return found
        marks = ",".join("?" * len(ids))
        for message_id, filename, content_id, data in conn.execute(
                f"SELECT message_id, filename, content_id, data FROM mail_attachments WHERE message_id IN ({marks}) "
                "ORDER BY message_id, position", list(ids)):
            found.setdefault(message_id, []).append(Attachment(filename, bytes(data), content_id))
        return found

    @staticmethod
    def _sent(row, attachments: Sequence[Attachment]) -> SentMail:
        message_id, sent_at, to_admins, fields_json = row
        fields = json.loads(fields_json)
        message = MailMessage(
            **{name: fields.get(name, "") for name in TEXT_FIELDS},
            **{name: tuple(fields.get(name, ())) for name in LIST_FIELDS},
            attachments=tuple(attachments),
            headers=tuple((k, v) for k, v in fields.get("headers", ())),
            to_admins=bool(to_admins),
        )
        return SentMail(int(message_id), float(sent_at), message)
