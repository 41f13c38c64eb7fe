"""Mail under the real `gae-emu dev`: a Python 3 app on appengine-python-standard (no gae-emu import)
sends mail (stored, logged, listed on the console and by `sent_mail()`, relayed over SMTP when asked)
and receives inbound mail and bounces through `deliver_mail()` / `deliver_bounce()`."""
from __future__ import annotations

import socket
import threading
import uuid
from email import message_from_bytes, policy
from email.mime.text import MIMEText
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed (the test extra installs it)")
pytest.importorskip("flask", reason="flask is not installed (the test extra installs it)")

from gae_emu.testing import EmulatorHandle, HttpClient, emulator, wait_for  # noqa: E402

APP = Path(__file__).resolve().parent / "apps" / "mailapp"


def multipart(fields: List[Tuple[str, str]], files: List[Tuple[str, str, bytes]]) -> Tuple[bytes, str]:
    """A browser-style multipart/form-data body: (body, content type)."""
    boundary = "----test" + uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode() for n, v in fields]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"; filename="{f}"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for n, f, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[EmulatorHandle]:
    with emulator(APP / "app.yaml", storage_path=tmp_path_factory.mktemp("mail-storage")) as handle:
        yield handle


def send(handle: EmulatorHandle, subject: str, **extra) -> None:
    fields = [("sender", "app@example.com"), ("to", "alice@example.com"), ("to", "bob@example.com"),
              ("subject", subject), ("body", "plain body")] + list(extra.get("fields", []))
    body, ctype = multipart(fields, extra.get("files", []))
    resp = handle.client.post("/send", data=body, headers={"Content-Type": ctype})
    assert resp.status == 200, resp.text


def test_sent_mail_with_attachment_is_listed_logged_and_on_the_console(running):
    subject = "report " + uuid.uuid4().hex[:6]
    send(running, subject, fields=[("html", "<b>bold</b><script>x()</script>"), ("cc", "carol@example.com"),
                                   ("reply_to", "replies@example.com"), ("in_reply_to", "<m1@example.com>")],
         files=[("file", "report.csv", b"a,b\n1,2\n"), ("file", "pic.png", b"\x89PNG\x00\xff")])
    [sent] = [m for m in running.sent_mail() if m.subject == subject]
    assert (sent.sender, sent.to, sent.cc, sent.bcc) == ("app@example.com", ["alice@example.com", "bob@example.com"],
                                                         ["carol@example.com"], [])
    assert (sent.reply_to, sent.body, sent.html) == ("replies@example.com", "plain body", "<b>bold</b><script>x()</script>")
    assert sent.attachments == [("report.csv", b"a,b\n1,2\n"), ("pic.png", b"\x89PNG\x00\xff")]
    assert sent.headers == [("In-Reply-To", "<m1@example.com>")]
    line = f"mail app@example.com → alice@example.com, bob@example.com, carol@example.com: {subject}"
    wait_for(lambda: any(line in out for out in running.output), what="the console line")

    admin = HttpClient(running.admin_url)
    listing = admin.get("/mail")
    assert listing.status == 200 and subject in listing.text
    message_id = next(m["id"] for m in admin.get("/api/mail").json()["messages"] if m["subject"] == subject)
    page = admin.get(f"/mail/{message_id}")
    assert "&lt;script&gt;x()&lt;/script&gt;" in page.text and "<script>" not in page.text
    download = admin.get(f"/mail/{message_id}/attachments/1")
    assert download.body == b"\x89PNG\x00\xff"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert 'filename=pic.png' in download.headers["Content-Disposition"]
    assert admin.get(f"/mail/{message_id}/attachments/2").status == 404


def test_send_to_admins_is_stored_without_recipients(running):
    subject = "admins " + uuid.uuid4().hex[:6]
    resp = running.client.post("/send-admins", data={"sender": "app@example.com", "subject": subject, "body": "b"})
    assert resp.status == 200, resp.text
    [sent] = [m for m in running.sent_mail() if m.subject == subject]
    assert sent.to_admins and sent.to == []


def test_server_side_checks_answer_production_codes(running):
    assert running.client.post("/send-raw", data={"attachment": "setup.exe"}).json()["code"] == 4  # INVALID_ATTACHMENT_TYPE
    assert running.client.post("/send-raw", data={"header": "X-Custom"}).json()["code"] == 5  # INVALID_HEADER_NAME
    assert running.client.post("/send-raw", data={"header": "List-Id"}).json()["code"] == 0
    assert running.client.post("/send-checked").text == "InvalidAttachmentTypeError"


def test_inbound_mail_reaches_the_apps_handler(running):
    message = MIMEText("héllo inbound", "plain", "utf-8")
    message["From"], message["To"], message["Subject"] = "someone@example.org", "support@app.appspotmail.com", "Help"
    assert running.deliver_mail("support@app.appspotmail.com", message.as_bytes()) == 200
    got = [r for r in running.client.get("/received").json() if r["kind"] == "mail"][-1]
    assert got["address"] == "support@app.appspotmail.com"
    assert (got["sender"], got["subject"], got["text"]) == ("someone@example.org", "Help", ["héllo inbound"])
    assert got["remote_addr"] == "0.1.0.20"


def test_bounce_reaches_the_apps_handler(running):
    original = "From: app@example.com\r\nTo: nobody@example.net\r\nSubject: Lost\r\n\r\nbody text\r\n"
    assert running.deliver_bounce(original, {"text": "No such user"}) == 200
    got = [r for r in running.client.get("/received").json() if r["kind"] == "bounce"][-1]
    assert got["original"]["to"] == "nobody@example.net" and got["original"]["subject"] == "Lost"
    assert got["notification"]["text"] == "No such user"
    assert got["raw_subject"] == "Lost"


def test_bad_inbound_requests_get_clear_errors(running):
    admin = HttpClient(running.admin_url)
    resp = admin.post("/api/mail/deliver", data='{"to": "not-an-address", "message": "x"}',
                      headers={"Content-Type": "application/json", "X-Requested-With": "t"})
    assert resp.status == 400 and "not an email address" in resp.json()["error"]
    resp = admin.post("/api/mail/deliver", data='{"to": "a@b.c"}',
                      headers={"Content-Type": "application/json", "X-Requested-With": "t"})
    assert resp.status == 400 and "message must be a string" in resp.json()["error"]


class FakeSmtp:
    """A one-thread SMTP server that records what it is sent (enough of RFC 5321 for smtplib)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: List[Tuple[str, List[str], bytes]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                self._session(conn, reader)

    def _session(self, conn: socket.socket, reader) -> None:
        conn.sendall(b"220 fake ESMTP\r\n")
        sender, rcpts = "", []
        for line in reader:
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-fake\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                sender = line.split(b":", 1)[1].strip().strip(b"<>").decode()
                conn.sendall(b"250 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(line.split(b":", 1)[1].strip().strip(b"<>").decode())
                conn.sendall(b"250 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                data = b""
                for chunk in reader:
                    if chunk == b".\r\n":
                        break
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.received.append((sender, rcpts, data))
                conn.sendall(b"250 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.sock.close()


def test_mail_persists_across_a_restart_is_relayed_over_smtp_and_cleared(tmp_path):
    storage = tmp_path / "storage"
    with emulator(APP / "app.yaml", storage_path=storage) as first:
        send(first, "kept")
    smtp = FakeSmtp()
    try:
        with emulator(APP / "app.yaml", storage_path=storage, args=["--smtp-host", "127.0.0.1", "--smtp-port",
                                                                     str(smtp.port)]) as second:
            assert [m.subject for m in second.sent_mail()] == ["kept"]
            send(second, "relayed", fields=[("bcc", "hidden@example.com")], files=[("file", "notes.txt", b"n")])
            assert [m.subject for m in second.sent_mail()] == ["kept", "relayed"]
            wait_for(lambda: smtp.received, what="the relayed message")
            sender, rcpts, data = smtp.received[0]
            assert sender == "app@example.com"
            assert rcpts == ["alice@example.com", "bob@example.com", "hidden@example.com"]
            relayed = message_from_bytes(data, policy=policy.default)
            assert relayed["Subject"] == "relayed" and relayed["Bcc"] is None
            assert [(p.get_filename(), p.get_payload(decode=True)) for p in relayed.iter_attachments()] == [("notes.txt", b"n")]
            second.reset()
            assert second.sent_mail() == []
            send(second, "before clear")
    finally:
        smtp.close()
    with emulator(APP / "app.yaml", storage_path=storage, args=["--clear-datastore"]) as third:
        assert third.sent_mail() == []
