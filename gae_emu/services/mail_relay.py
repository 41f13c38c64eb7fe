"""Relaying sent mail to a real SMTP server (`gae-emu dev --smtp-host ...`), as the SDK's dev server
did with `--smtp_host`: off by default, so nothing leaves the machine unless asked.

`to_mime(message)` builds the RFC 822 message (text and HTML alternatives, attachments, the
allowed extra headers); `SmtpRelay` sends it, using STARTTLS when the server offers it and logging
in when a user is given. Bcc recipients get the message but no Bcc header.

Imports: the standard library, `gae_emu.services.mail`.
"""
from __future__ import annotations

import mimetypes
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Optional

from gae_emu.services.mail import MailMessage

SMTP_TIMEOUT = 30.0


def to_mime(message: MailMessage) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = message.sender
    if message.to:
        mime["To"] = ", ".join(message.to)
    if message.cc:
        mime["Cc"] = ", ".join(message.cc)
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = make_msgid()
    for name, value in message.headers:
        mime[name] = value
    mime.set_content(message.body or "")
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        ctype = mimetypes.guess_type(attachment.filename)[0] or "application/octet-stream"
        maintype, _, subtype = ctype.partition("/")
        mime.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
        if attachment.content_id:
            mime.get_payload()[-1]["Content-ID"] = attachment.content_id
    return mime


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int = 25
    user: Optional[str] = None
    password: Optional[str] = None

    def __call__(self, message: MailMessage) -> None:
        recipients = list(message.to + message.cc + message.bcc)
        with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(to_mime(message), from_addr=message.sender, to_addrs=recipients)
