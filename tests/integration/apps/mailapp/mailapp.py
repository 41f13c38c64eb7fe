"""Sends mail through Google's library and records the mail and bounces App Engine delivers to it."""
import threading

from flask import Flask, jsonify, request
from google.appengine.api import api_base_pb2, apiproxy_stub_map, mail, mail_service_pb2, wrap_wsgi_app
from google.appengine.runtime import apiproxy_errors

app = Flask(__name__)
app.wsgi_app = wrap_wsgi_app(app.wsgi_app)

_lock = threading.Lock()
_received = []


@app.post("/send")
def send():
    form = request.form
    optional = {name: form[name] for name in ("html", "cc", "bcc", "reply_to") if form.get(name)}
    if request.files:
        optional["attachments"] = [mail.Attachment(f.filename, f.read()) for f in request.files.getlist("file")]
    if form.get("in_reply_to"):
        optional["headers"] = {"In-Reply-To": form["in_reply_to"]}
    mail.send_mail(sender=form["sender"], to=form.getlist("to"), subject=form["subject"], body=form["body"], **optional)
    return "sent"


@app.post("/send-admins")
def send_admins():
    mail.send_mail_to_admins(sender=request.form["sender"], subject=request.form["subject"], body=request.form["body"])
    return "sent"


@app.post("/send-raw")
def send_raw():
    """A MailMessage built by hand, so the server's own checks answer (the library would refuse first)."""
    message = mail_service_pb2.MailMessage(Sender="app@example.com", To=["a@example.com"], Subject="raw",
                                           TextBody="body")
    if request.form.get("attachment"):
        message.Attachment.add(FileName=request.form["attachment"], Data=b"MZ")
    if request.form.get("header"):
        message.Header.add(name=request.form["header"], value="x")
    try:
        apiproxy_stub_map.MakeSyncCall("mail", "Send", message, api_base_pb2.VoidProto())
    except apiproxy_errors.ApplicationError as exc:
        return jsonify(code=exc.application_error, detail=exc.error_detail)
    return jsonify(code=0)


@app.post("/send-checked")
def send_checked():
    """The library's own EmailMessage with a blocked attachment type: its exception's class name."""
    try:
        mail.EmailMessage(sender="app@example.com", to="a@example.com", subject="s", body="b",
                          attachments=[("run.exe", b"MZ")]).send()
    except mail.Error as exc:
        return type(exc).__name__
    return "sent"


@app.post("/_ah/mail/<path:address>")
def inbound(address):
    message = mail.InboundEmailMessage(request.get_data())
    bodies = [body.decode() for _, body in message.bodies("text/plain")]
    with _lock:
        _received.append({"kind": "mail", "address": address, "sender": message.sender, "to": message.to,
                          "subject": message.subject, "text": bodies,
                          "user_agent": request.headers.get("User-Agent", ""),
                          "remote_addr": request.remote_addr})
    return "ok"


@app.post("/_ah/bounce")
def bounce():
    notification = mail.BounceNotification(request.form)
    with _lock:
        _received.append({"kind": "bounce", "original": notification.original,
                          "notification": notification.notification,
                          "raw_subject": notification.original_raw_message.subject})
    return "ok"


@app.get("/received")
def received():
    with _lock:
        return jsonify(_received)
