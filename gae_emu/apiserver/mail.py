"""`mail` over the wire: Send and SendToAdmins, answered by the emulator's `MailService`.

The library checks senders, recipients and bodies before it calls; the service repeats production's
server-side checks (refused attachment types, header names outside the allow list) and its refusals
travel as `application_error` with the MailServiceError code, which the client turns into
`InvalidAttachmentTypeError`, `InvalidHeaderNameError` or `BadRequestError`. The reply is a VoidProto.

Imports: the standard library, `gae_emu.services.mail`, this package.
"""
from __future__ import annotations

from typing import Any, Dict

from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler
from gae_emu.services.mail import Attachment, MailError, MailMessage, MailService


def message_from_pb(request: Any, to_admins: bool) -> MailMessage:
    return MailMessage(
        sender=request.Sender,
        to=tuple(request.To),
        cc=tuple(request.Cc),
        bcc=tuple(request.Bcc),
        reply_to=request.ReplyTo,
        subject=request.Subject,
        body=request.TextBody,
        html=request.HtmlBody,
        amp_html=request.AmpHtmlBody,
        attachments=tuple(Attachment(a.FileName, a.Data, a.ContentID) for a in request.Attachment),
        headers=tuple((h.name, h.value) for h in request.Header),
        to_admins=to_admins,
    )


class Mail(ServiceHandler):
    name = "mail"

    def __init__(self, service: MailService) -> None:
        self.service = service

    def methods(self) -> Dict[str, Method]:
        message = pb().mail.MailMessage
        return {
            "Send": (message, self.send),
            "SendToAdmins": (message, self.send_to_admins),
        }

    def _send(self, request: Any, to_admins: bool) -> Any:
        try:
            self.service.send(message_from_pb(request, to_admins))
        except MailError as exc:
            raise ApplicationError(exc.code, exc.message) from None
        return pb().api_base.VoidProto()

    def send(self, request: Any, call: Call) -> Any:
        return self._send(request, to_admins=False)

    def send_to_admins(self, request: Any, call: Call) -> Any:
        return self._send(request, to_admins=True)
