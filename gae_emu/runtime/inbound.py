"""Inbound mail and bounces, delivered to the app as App Engine delivers them: an HTTP POST from the
front end, handled like any other request (app.yaml order, `login: admin` passes, as it does for
App Engine's own requests).

- mail to `<address>` is `POST /_ah/mail/<address>` with `Content-Type: message/rfc822` and the raw
  message as the body (the SDK's dev server sends the same from its console, from 0.1.0.20);
- a bounce is `POST /_ah/bounce`, a multipart/form-data form with the `original-*` and
  `notification-*` fields and `raw-message`, which `mail.BounceNotification` reads.

Both go to the default service and need the app.yaml's `inbound_services` to list `mail` (resp.
`mail_bounce`), as production sends nothing to an app that did not ask for it.

Imports: the standard library, `gae_emu.runtime`.
"""
from __future__ import annotations

import email
import email.policy
import uuid
from email.message import Message
from typing import Dict, Mapping, Optional, Tuple, Union
from urllib.parse import quote

from gae_emu.runtime.environ import internal_environ
from gae_emu.runtime.router import ServiceRouter

INBOUND_SOURCE_IP = "0.1.0.20"
MAIL_PATH = "/_ah/mail/"
BOUNCE_PATH = "/_ah/bounce"
Raw = Union[bytes, str]


class InboundNotEnabled(Exception):
    """The app's default service does not list the inbound service in app.yaml."""


def raw_bytes(raw: Raw) -> bytes:
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)


def _post(router: ServiceRouter, host: str, path: str, content_type: str, body: bytes) -> int:
    environ = internal_environ("POST", path, [("Content-Type", content_type)], body, host, INBOUND_SOURCE_IP)
    return router.handle(environ).status_code


def _require(router: ServiceRouter, service: str) -> None:
    if service not in router.app.inbound_services:
        raise InboundNotEnabled(f"{router.app.path}: inbound_services does not list {service!r}, so App Engine "
                                f"would not deliver it; add it to the default service's app.yaml")


def deliver_mail(router: ServiceRouter, host: str, to: str, raw: Raw) -> int:
    """POST one RFC 822 message to `/_ah/mail/<to>`; the app's HTTP status."""
    _require(router, "mail")
    if not to or "@" not in to:
        raise ValueError(f"not an email address: {to!r}")
    return _post(router, host, MAIL_PATH + quote(to, safe="@+"), "message/rfc822", raw_bytes(raw))


def bounce_fields(raw: Raw, notification: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The bounce form: `original-*` from the bounced message's headers, `notification-*` given or
    a plain delivery failure notice from the mailer daemon."""
    original: Message = email.message_from_bytes(raw_bytes(raw), policy=email.policy.compat32)
    text = ""
    for part in original.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            text = payload.decode(part.get_content_charset() or "utf-8", "replace")
            break
    fields = {f"original-{name}": str(original.get(name, "")) for name in ("from", "to", "cc", "bcc", "subject")}
    fields["original-text"] = text
    notice = {"from": "mailer-daemon@googlemail.com", "to": fields["original-from"], "cc": "", "bcc": "",
              "subject": "Delivery Status Notification (Failure)",
              "text": f"Delivery to {fields['original-to']} failed permanently."}
    notice.update(notification or {})
    fields.update({f"notification-{k}": str(v) for k, v in notice.items()})
    fields["raw-message"] = raw_bytes(raw).decode("utf-8", "replace")
    return fields


def multipart_form(fields: Mapping[str, str]) -> Tuple[str, bytes]:
    """(content type, body) of a multipart/form-data form of text fields."""
    boundary = "gae-emu-" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                     f"Content-Type: text/plain; charset=utf-8\r\n\r\n".encode("utf-8") + value.encode("utf-8") + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode("ascii")
    return f"multipart/form-data; boundary={boundary}", body


def deliver_bounce(router: ServiceRouter, host: str, raw: Raw, notification: Optional[Mapping[str, str]] = None) -> int:
    """POST a bounce notification for the message `raw` to `/_ah/bounce`; the app's HTTP status."""
    _require(router, "mail_bounce")
    content_type, body = multipart_form(bounce_fields(raw, notification))
    return _post(router, host, BOUNCE_PATH, content_type, body)
