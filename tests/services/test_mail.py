"""The mail service in-process: production's server-side checks, storage oldest first with
attachments, reset, the console line, and a relay that fails without losing the message."""
from __future__ import annotations

import logging

import pytest

from gae_emu.services.mail import (BAD_REQUEST, INVALID_ATTACHMENT_TYPE, INVALID_HEADER_NAME, Attachment, MailError,
                                   MailMessage, MailService)
from gae_emu.services.mail_relay import to_mime
from gae_emu.storage import Storage


@pytest.fixture
def storage(tmp_path):
    store = Storage.in_directory(tmp_path / "db")
    yield store
    store.close()


def message(**fields) -> MailMessage:
    base = dict(sender="app@example.com", to=("a@example.com",), subject="Hi", body="text")
    base.update(fields)
    return MailMessage(**base)


@pytest.mark.parametrize("fields, code", [
    ({"sender": ""}, BAD_REQUEST),
    ({"to": ()}, BAD_REQUEST),
    ({"body": ""}, BAD_REQUEST),
    ({"attachments": (Attachment("Setup.EXE", b"MZ"),)}, INVALID_ATTACHMENT_TYPE),
    ({"headers": (("X-Mailer", "me"),)}, INVALID_HEADER_NAME),
])
def test_refused_messages_carry_productions_code_and_are_not_stored(storage, fields, code):
    service = MailService(storage)
    with pytest.raises(MailError) as caught:
        service.send(message(**fields))
    assert caught.value.code == code
    assert service.count() == 0


def test_accepted_variants(storage):
    service = MailService(storage)
    service.send(message(to=(), bcc=("hidden@example.com",), body="", html="<p>x</p>",
                         headers=(("list-id", "l"),), attachments=(Attachment("noext", b""),)))
    service.send(message(to=(), to_admins=True))
    assert [s.message.to_admins for s in service.list()] == [False, True]


def test_messages_come_back_oldest_first_with_attachments_and_survive_reopening(tmp_path):
    store = Storage.in_directory(tmp_path / "db")
    clock = iter([100.0, 200.0])
    service = MailService(store, clock=lambda: next(clock))
    first = service.send(message(subject="one", attachments=(Attachment("a.txt", b"A", "<cid>"), Attachment("b.bin", b"\0\xff"))))
    service.send(message(subject="two", cc=("c@example.com",), headers=(("In-Reply-To", "<x@y>"),)))
    store.close()
    store = Storage.in_directory(tmp_path / "db")
    try:
        again = MailService(store)
        listed = again.list()
        assert [(s.id, s.sent_at, s.message.subject) for s in listed] == [(first.id, 100.0, "one"), (first.id + 1, 200.0, "two")]
        assert listed[0].message == first.message
        assert listed[1].message.headers == (("In-Reply-To", "<x@y>"),)
        assert again.get(first.id + 1).message.cc == ("c@example.com",)
        assert again.get(999) is None
        assert [s.message.subject for s in again.list(offset=1, limit=1)] == ["two"]
        again.reset()
        assert again.list() == [] and again.count() == 0
    finally:
        store.close()


def test_console_line_and_a_failing_relay_keeps_the_message(storage, caplog):
    def broken(msg):
        raise OSError("connection refused")

    service = MailService(storage, relay=broken)
    with caplog.at_level(logging.INFO, logger="gae_emu.mail"):
        service.send(message(subject="Report", cc=("c@example.com",)))
    assert "mail app@example.com → a@example.com, c@example.com: Report" in caplog.messages
    assert any("could not be relayed: connection refused" in m for m in caplog.messages)
    assert service.count() == 1


def test_to_mime_builds_alternatives_attachments_and_keeps_bcc_out(storage):
    mime = to_mime(message(bcc=("h@example.com",), html="<b>x</b>", reply_to="r@example.com",
                           headers=(("In-Reply-To", "<a@b>"),), attachments=(Attachment("p.png", b"\x89P", "<img1>"),)))
    assert mime["Bcc"] is None and mime["Reply-To"] == "r@example.com" and mime["In-Reply-To"] == "<a@b>"
    assert mime.get_body(("plain",)).get_content().strip() == "text"
    assert mime.get_body(("html",)).get_content().strip() == "<b>x</b>"
    [part] = list(mime.iter_attachments())
    assert (part.get_filename(), part.get_content_type(), part.get_content(), part["Content-ID"]) == (
        "p.png", "image/png", b"\x89P", "<img1>")
