"""The admin console: task queues, datastore viewer, request log, and the JSON API the pytest plugin
uses. One WSGI app serves it on the admin port (no login: local only, like dev_appserver's) and under
`/_ah/admin` on every app port (a `login: admin` handler of the top-level app.yaml).

URL base: on an app port the request arrives as `/_ah/admin/...`; on the admin port it arrives at
the root. The base is worked out from SCRIPT_NAME and PATH_INFO, so every link, form and redirect
stays on the port the console was opened on.

Guards, in order: the front door has refused non-local Host headers (DNS rebinding); a request that
is not GET/HEAD must be same-origin and carry the form's CSRF token or, for `/api/`, the
`X-Requested-With` header (`admin_security`); every HTML value is escaped (`admin_html`) and pages
are served with a Content-Security-Policy that allows no script at all.

Modules: `admin_queues`/`admin_datastore`/`admin_cron` (the work), `admin_mail` / `admin_blobstore`
(the Mail and Blobstore pages and their API), `admin_pages` (HTML), `admin_api` (JSON),
`admin_html` (escaping and layout), `admin_security` (CSRF, same origin).

Imports: the standard library, werkzeug, `gae_emu` (services, errors), the `admin_*` modules.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Tuple

from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from gae_emu.services.datastore.errors import Error as DatastoreError
from gae_emu.services.taskqueue.errors import TaskQueueError, UnknownQueueError, UnknownTaskError

from . import admin_api as api
from . import admin_blobstore as blobs
from . import admin_memcache as memcache_
from . import admin_cron as cron
from . import admin_mail as mail
from . import admin_pages as pages
from .admin_html import html, layout
from .admin_security import check_state_change, xsrf_token

log = logging.getLogger("gae_emu.admin")

ADMIN_PREFIX = "/_ah/admin"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECURITY_HEADERS = {
    # No script may run on a console page, whatever a stored value contains.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _rules(prefix: str, table: Iterable[Tuple[str, Callable, str]]) -> list:
    return [Rule(prefix + path, endpoint=endpoint, methods=[method]) for path, endpoint, method in table]


# The URL tables, as plain data: (path, endpoint, method).
PAGES = [
    ("/", pages.home, "GET"),
    ("/queues", pages.queues, "GET"),
    ("/queues/<queue>", pages.queue, "GET"),
    ("/queues/<queue>/tombstones", pages.tombstones, "GET"),
    ("/queues/<queue>/tasks/<name>/run", pages.run_task, "POST"),
    ("/queues/<queue>/tasks/<name>/delete", pages.delete_task, "POST"),
    ("/queues/<queue>/purge", pages.purge, "POST"),
    ("/reset", pages.reset, "POST"),
    ("/datastore", pages.datastore, "GET"),
    ("/datastore/new", pages.new_entity, "POST"),
    ("/datastore/entity/<key>", pages.entity, "GET"),
    ("/datastore/entity/<key>", pages.edit_entity, "POST"),
    ("/datastore/entity/<key>/delete", pages.delete_entity, "POST"),
    ("/requests", pages.requests, "GET"),
    ("/requests/<int:record_id>", pages.request_detail, "GET"),
    ("/cron", cron.page, "GET"),
    ("/cron/run", cron.run_form, "POST"),
    ("/mail", mail.page, "GET"),
    ("/mail/<int:message_id>", mail.message_page, "GET"),
    ("/mail/<int:message_id>/attachments/<int:index>", mail.attachment, "GET"),
    ("/mail/deliver", mail.deliver_form, "POST"),
    ("/mail/clear", mail.clear_form, "POST"),
    ("/instances", pages.instances, "GET"),
    ("/instances/<service>/restart", pages.restart_instance, "POST"),
    ("/blobstore", blobs.page, "GET"),
    ("/blobstore/<key>/download", blobs.download, "GET"),
    ("/blobstore/<key>/delete", blobs.delete_form, "POST"),
    ("/memcache", memcache_.page, "GET"),
    ("/memcache/set", memcache_.set_form, "POST"),
    ("/memcache/flush", memcache_.flush_form, "POST"),
]
API = [
    ("/queues", api.queues, "GET"),
    ("/queues/<queue>/tasks", api.tasks, "GET"),
    ("/queues/<queue>/tombstones", api.tombstones, "GET"),
    ("/queues/<queue>/tasks/<name>/run", api.run_task, "POST"),
    ("/queues/<queue>/tasks/<name>/delete", api.delete_task, "POST"),
    ("/queues/<queue>/purge", api.purge, "POST"),
    ("/reset", api.reset, "POST"),
    ("/run-due", api.run_due, "POST"),
    ("/wait-idle", api.wait_idle, "POST"),
    ("/datastore/namespaces", api.namespaces, "GET"),
    ("/datastore/kinds", api.kinds, "GET"),
    ("/datastore/entities", api.entities, "GET"),
    ("/datastore/entity/<key>", api.entity, "GET"),
    ("/datastore/entity/<key>", api.edit_entity, "POST"),
    ("/datastore/entity/<key>/delete", api.delete_entity, "POST"),
    ("/requests", api.requests, "GET"),
    ("/cron", cron.api_jobs, "GET"),
    ("/cron/run", cron.api_run, "POST"),
    ("/cron/advance", cron.api_advance, "POST"),
    ("/mail", mail.api_list, "GET"),
    ("/mail/<int:message_id>", mail.api_message, "GET"),
    ("/mail/<int:message_id>/attachments/<int:index>", mail.attachment, "GET"),
    ("/mail/deliver", mail.api_deliver, "POST"),
    ("/mail/bounce", mail.api_bounce, "POST"),
    ("/mail/clear", mail.api_clear, "POST"),
    ("/instances", api.instances, "GET"),
    ("/instances/<service>/restart", api.restart_instance, "POST"),
    ("/blobstore", blobs.api_list, "GET"),
    ("/blobstore/<key>/download", blobs.download, "GET"),
    ("/blobstore/<key>/delete", blobs.api_delete, "POST"),
    ("/memcache", memcache_.api_stats, "GET"),
]
URLS = Map(_rules("", PAGES) + _rules("/api", API), strict_slashes=False, merge_slashes=False)


@dataclass
class Context:
    """What a page or API function needs besides its URL arguments."""

    request: Request
    base: str  # the console's URL prefix: "" on the admin port, "/_ah/admin" on app ports
    token: str  # the CSRF token forms must send back


def split_base(environ: dict) -> Tuple[str, str]:
    """(console base URL, path inside the console) of a request on either kind of port."""
    script = (environ.get("SCRIPT_NAME") or "").rstrip("/")
    path = environ.get("PATH_INFO") or "/"
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return script + ADMIN_PREFIX, path[len(ADMIN_PREFIX):] or "/"
    return script, path


def _http_error(exc: Exception) -> HTTPException:
    """Service errors as the HTTP errors the console answers with."""
    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, (UnknownQueueError, UnknownTaskError)):
        return NotFound(str(exc))
    if isinstance(exc, (TaskQueueError, DatastoreError)):
        return BadRequest(str(exc))
    log.exception("admin console error")
    return InternalServerError(f"{type(exc).__name__}: {exc}")


def _error_response(error: HTTPException, is_api: bool, base: str) -> Response:
    if is_api:
        body = json.dumps({"error": error.description, "status": error.code})
        response = Response(body, status=error.code, mimetype="application/json")
    else:
        title = f"{error.code} {error.name}"
        page = layout(title, html("<p>{}</p>", error.description), base, None)
        response = Response(page, status=error.code, content_type="text/html; charset=utf-8")
    if error.code == 405:
        response.headers["Allow"] = ", ".join(error.valid_methods or ())  # type: ignore[attr-defined]
    return response


def _respond(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, dict):
        return Response(json.dumps(result), mimetype="application/json")
    return Response(result, content_type="text/html; charset=utf-8")


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    request = Request(environ)
    base, path = split_base(environ)
    is_api = path == "/api" or path.startswith("/api/")
    try:
        if request.method not in SAFE_METHODS:
            check_state_change(request, is_api)
        endpoint, args = URLS.bind("localhost", script_name=base or "/").match(path, request.method)
        response = _respond(endpoint(Context(request, base, xsrf_token()), **args))
    except Exception as exc:  # every failure becomes one answer here, at the edge
        response = _error_response(_http_error(exc), is_api, base)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response(environ, start_response)
