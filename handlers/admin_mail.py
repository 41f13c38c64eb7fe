"""The admin console's Mail page and its JSON API: the mail the app sent (headers, text and HTML
bodies, attachments to download) and a form to deliver inbound mail to the app, as the SDK's dev
server console had.

Every value is escaped (an HTML body is shown as its source, never rendered); attachments download
as `application/octet-stream` with `Content-Disposition: attachment`, so the console never serves
app-made content as a page of its own origin.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, `gae_emu.runtime.inbound` (its error),
`gae_emu.services.mail`, the console's `admin_html`.
"""
from __future__ import annotations

import base64
import email.utils
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import TYPE_CHECKING, Any, Dict, List

from werkzeug.exceptions import BadRequest, NotFound, ServiceUnavailable
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from gae_emu import apiproxy
from gae_emu.runtime.inbound import InboundNotEnabled
from gae_emu.services.mail import MailService, SentMail

from .admin_html import Safe, html, join, layout, link, post_button, table, url, when, with_query

if TYPE_CHECKING:
    from .admin import Context

MAX_LISTED = 500


def _service() -> MailService:
    service = apiproxy.current().mail
    if service is None:
        raise ServiceUnavailable("No mail service is running in this process.")
    return service


def _emulator() -> Any:
    emulator = apiproxy.current().settings.get("emulator")
    if emulator is None:
        raise ServiceUnavailable("Inbound mail needs the running dev server.")
    return emulator


def _get(message_id: int) -> SentMail:
    sent = _service().get(message_id)
    if sent is None:
        raise NotFound(f"No sent mail with id {message_id}.")
    return sent


def mail_dict(sent: SentMail) -> Dict[str, Any]:
    m = sent.message
    return {
        "id": sent.id, "sent_at": sent.sent_at, "to_admins": m.to_admins,
        "sender": m.sender, "to": list(m.to), "cc": list(m.cc), "bcc": list(m.bcc), "reply_to": m.reply_to,
        "subject": m.subject, "body": m.body, "html": m.html, "amp_html": m.amp_html,
        "headers": [list(h) for h in m.headers],
        "attachments": [{"filename": a.filename, "content_id": a.content_id, "size": len(a.data),
                         "data_base64": base64.b64encode(a.data).decode("ascii")} for a in m.attachments],
    }


# -- inbound ------------------------------------------------------------------------------------------


def _deliver(call: Any) -> int:
    try:
        return int(call())
    except (InboundNotEnabled, ValueError) as exc:
        raise BadRequest(str(exc)) from None


def compose(to: str, sender: str, subject: str, body: str, cc: str = "") -> bytes:
    """The message the console form sends (text and HTML alternatives, as dev_appserver's did)."""
    message = MIMEMultipart("alternative")
    message["To"], message["From"], message["Subject"] = to, sender, subject
    if cc:
        message["Cc"] = cc
    message["Date"] = email.utils.formatdate()
    message.attach(MIMEText(body, "plain", "utf-8"))
    message.attach(MIMEText(body, "html", "utf-8"))
    return message.as_bytes()


# -- pages --------------------------------------------------------------------------------------------


def page(ctx: Context) -> str:
    listed = _service().list(limit=MAX_LISTED)
    rows = [[link(url(ctx.base, "mail", s.id), s.id, class_="mail"), when(s.sent_at), s.message.sender,
             "(admins)" if s.message.to_admins else ", ".join(s.message.to + s.message.cc + s.message.bcc),
             s.message.subject, len(s.message.attachments)] for s in reversed(listed)]
    form = html(
        '<form method="post" action="{}" class="deliver"><input type="hidden" name="xsrf_token" value="{}">'
        '<p><label>To <input type="text" name="to" required></label></p>'
        '<p><label>From <input type="text" name="from" value="sender@example.com"></label></p>'
        '<p><label>Subject <input type="text" name="subject"></label></p>'
        '<p><label>Body<br><textarea name="body" rows="6" cols="60"></textarea></label></p>'
        '<p><button type="submit">Deliver to the app</button></p></form>', url(ctx.base, "mail", "deliver"), ctx.token)
    body = join([
        html("<p>Mail the app sent (newest first). Nothing leaves the machine unless the dev server was "
             "started with <code>--smtp-host</code>.</p>"),
        table(["#", "Sent", "From", "To", "Subject", "Attachments"], rows, "No mail sent yet.",
              [f"mail-{s.id}" for s in reversed(listed)]),
        html("<p>{}</p>", post_button(url(ctx.base, "mail", "clear"), "Delete all sent mail", ctx.token, "danger")),
        html("<h2>Deliver inbound mail</h2><p>POSTs the message to the app's <code>/_ah/mail/&lt;to&gt;</code> "
             "(needs <code>inbound_services: [mail]</code> in app.yaml).</p>{}", form),
    ])
    return _page(ctx, "Mail", body)


def _page(ctx: Context, title: str, body: Safe) -> str:
    return layout(title, body, ctx.base, ctx.request.args.get("msg"), ctx.request.args.get("error") == "1")


def message_page(ctx: Context, message_id: int) -> str:
    sent = _get(message_id)
    m = sent.message
    fields: List[List[Any]] = [["From", m.sender], ["To", "(the app's admins)" if m.to_admins else ", ".join(m.to)],
                               ["Cc", ", ".join(m.cc)], ["Bcc", ", ".join(m.bcc)], ["Reply-To", m.reply_to],
                               ["Subject", m.subject], ["Sent", when(sent.sent_at)]]
    fields += [[name, value] for name, value in m.headers]
    attachments = [[link(url(ctx.base, "mail", message_id, "attachments", i), a.filename, class_="attachment"),
                    len(a.data), a.content_id] for i, a in enumerate(m.attachments)]
    body = join([
        table(["Header", "Value"], [f for f in fields if f[1] != ""]),
        html('<h2>Text body</h2><pre class="text-body">{}</pre>', m.body),
        html('<h2>HTML body (source)</h2><pre class="html-body">{}</pre>', m.html) if m.html else "",
        html("<h2>Attachments</h2>{}", table(["File", "Bytes", "Content-ID"], attachments, "No attachments.")),
        html("<p>{}</p>", link(url(ctx.base, "mail"), "Back to the list")),
    ])
    return _page(ctx, f"Mail #{message_id}: {m.subject}", body)


def attachment(ctx: Context, message_id: int, index: int) -> Response:
    attachments = _get(message_id).message.attachments
    if not 0 <= index < len(attachments):
        raise NotFound(f"Mail {message_id} has no attachment {index}.")
    found = attachments[index]
    response = Response(found.data, mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=found.filename or f"attachment-{index}")
    return response


def deliver_form(ctx: Context) -> Response:
    form = ctx.request.form
    to = form.get("to", "").strip()
    raw = compose(to, form.get("from", "").strip(), form.get("subject", ""), form.get("body", ""))
    status = _deliver(lambda: _emulator().deliver_mail(to, raw))
    return redirect(with_query(url(ctx.base, "mail"), msg=f"Delivered to /_ah/mail/{to}: HTTP {status}."), code=303)


def clear_form(ctx: Context) -> Response:
    _service().reset()
    return redirect(with_query(url(ctx.base, "mail"), msg="Sent mail deleted."), code=303)


# -- JSON API -----------------------------------------------------------------------------------------


def _json_body(ctx: Context) -> Dict[str, Any]:
    data = ctx.request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _text(data: Dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string.")
    return value


def api_list(ctx: Context) -> Dict[str, Any]:
    return {"messages": [mail_dict(s) for s in _service().list()]}


def api_message(ctx: Context, message_id: int) -> Dict[str, Any]:
    return mail_dict(_get(message_id))


def api_clear(ctx: Context) -> Dict[str, Any]:
    _service().reset()
    return {"cleared": True}


def _raw(data: Dict[str, Any]) -> bytes:
    """The raw message: "message" (text) or "message_base64" (any bytes)."""
    if "message_base64" in data:
        try:
            return base64.b64decode(_text(data, "message_base64"), validate=True)
        except ValueError:
            raise BadRequest("message_base64 is not valid base64.") from None
    return _text(data, "message").encode("utf-8")


def api_deliver(ctx: Context) -> Dict[str, Any]:
    """Body: {"to": address, "message": raw RFC 822 text} (or "message_base64": the raw bytes)."""
    data = _json_body(ctx)
    to, raw = _text(data, "to"), _raw(data)
    return {"status": _deliver(lambda: _emulator().deliver_mail(to, raw))}


def api_bounce(ctx: Context) -> Dict[str, Any]:
    """Body: {"message" or "message_base64": the bounced raw message, "notification": {field: text}
    (optional)}."""
    data = _json_body(ctx)
    raw = _raw(data)
    notification = data.get("notification") or {}
    if not isinstance(notification, dict) or not all(isinstance(v, str) for v in notification.values()):
        raise BadRequest("notification must be an object of strings.")
    return {"status": _deliver(lambda: _emulator().deliver_bounce(raw, notification))}
