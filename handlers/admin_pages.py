"""The admin console's HTML pages and form actions (server-rendered, no scripts, no build step).

Each function takes the request context (`admin.Context`: request, URL base, CSRF token) and returns
a page (str) or a redirect. Form actions redirect back to the page they came from with a short
message (303, so a reload does not repeat the POST). The work itself is in `admin_queues` and
`admin_datastore`, which the JSON API shares.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, and the console's own `admin_*` modules.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from werkzeug.exceptions import BadRequest, NotFound, ServiceUnavailable
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from gae_emu import apiproxy

from . import admin_datastore as ds
from . import admin_instances as instances_
from . import admin_queues as tq
from .admin_html import Safe, esc, html, join, layout, link, post_button, table, url, when, with_query

if TYPE_CHECKING:
    from .admin import Context

PAGE_SIZE = 20


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _page(ctx: Context, title: str, body: Safe) -> str:
    return layout(title, body, ctx.base, ctx.request.args.get("msg"), ctx.request.args.get("error") == "1")


def _back(location: str, message: str) -> Response:
    return redirect(with_query(location, msg=message), code=303)


def home(ctx: Context) -> Response:
    # `gae-emu datastore` (the Cloud Datastore API alone) has no task queues: start at its data.
    first = "queues" if apiproxy.current().taskqueue is not None else "datastore"
    return redirect(url(ctx.base, first), code=302)


# -- task queues --------------------------------------------------------------------------------------


def _mode(queue: dict) -> str:
    """`push`, plus where the queue comes from when not queue.yaml, and `paused` (PauseQueue)."""
    notes = [queue["mode"]] + (["from the Cloud Tasks API"] if queue["source"] != "queue.yaml" else [])
    return ", ".join(notes + (["paused"] if queue["paused"] else []))


def _failures(q: dict) -> str:
    """Tasks that failed at least once: still queued after a failure, plus those that gave up
    after their retry limits (the second figure; counted since start)."""
    return f"{q['failing'] + q['failures']} ({q['failures']})"


def queues(ctx: Context) -> str:
    if apiproxy.current().taskqueue is None:
        raise ServiceUnavailable("No task queues are served by this process (gae-emu datastore).")
    listed = tq.queue_dicts()
    rows = [
        [link(url(ctx.base, "queues", q["name"]), q["name"], class_="queue"), _mode(q), q["rate"] or "",
         q["tasks"], when(q["oldest_eta"]), q["in_flight"], q["executed_last_minute"], _failures(q)]
        for q in listed
    ]
    state = "paused (--no-enable-task-running): tasks run only from here or the test API" if tq.paused() \
        else "running when due"
    body = join([
        html('<p>Task running: <strong id="task-running">{}</strong></p>', state),
        table(["Queue", "Mode", "Rate", "Tasks", "Oldest ETA", "In flight", "Run in last minute",
               "Failed (gave up)"], rows,
              "No queues.", [f"queue-{q['name']}" for q in listed]),
        html("<h2>Reset</h2><p>Empty the datastore, every queue and tombstone, memcache, the sent mail and the "
             "blobs (you are asked to confirm). {}</p>",
             post_button(url(ctx.base, "reset"), "Reset everything", ctx.token, "danger")),
    ])
    return _page(ctx, "Task queues", body)


def _deferred_cell(task: Dict[str, Any]) -> Safe:
    deferred = task["deferred"]
    if deferred is None:
        preview = task["payload_preview"]
        return html('<code class="payload">{}</code>', preview) if preview else Safe("")
    if deferred.get("error"):
        return html('<span class="muted">deferred payload not readable: {}</span>', deferred["error"])
    args = list(deferred["args"]) + [f"{k}={v}" for k, v in deferred["kwargs"].items()]
    return html('<code class="deferred">{}({})</code>', deferred["callable"], ", ".join(args))


def _headers_cell(task: Dict[str, Any]) -> Safe:
    items = join(html("<li><code>{}: {}</code></li>", k, v) for k, v in task["headers"])
    return html("<details><summary>{} headers</summary><ul>{}</ul></details>", len(task["headers"]), items)


def queue(ctx: Context, queue: str) -> str:
    info = tq.queue_dict(queue)
    offset = max(0, _int(ctx.request.args.get("offset"), 0))
    tasks = tq.tasks(queue, offset=offset, limit=100)
    here = url(ctx.base, "queues", queue)
    rows = []
    for t in tasks:
        delete = post_button(url(ctx.base, "queues", queue, "tasks", t["name"], "delete"), "Delete", ctx.token,
                             "delete danger")
        # Pull tasks are leased by the app, never run by the queue: they can only be deleted.
        run = post_button(url(ctx.base, "queues", queue, "tasks", t["name"], "run"), "Run now", ctx.token, "run")
        actions = delete if t["mode"] == "pull" else join([run, delete])
        rows.append([html('<span class="task-name">{}</span>', t["name"]), when(t["eta"]),
                     html("{} {}", t["method"], t["url"]), t["retry_count"], t["execution_count"],
                     "" if t["last_response"] is None else t["last_response"], _headers_cell(t),
                     t["payload_size"], _deferred_cell(t), "running" if t["in_flight"] else actions])
    body = join([
        html("<p>Mode {}, rate {}, {} task(s), {} in flight, {} run in the last minute, {} failed at least "
             "once ({} of them gave up). {} {}</p>",
             _mode(info), info["rate"] or "-", info["tasks"], info["in_flight"], info["executed_last_minute"],
             info["failing"] + info["failures"], info["failures"], link(url(ctx.base, "queues", queue, "tombstones"), "Tombstones"),
             post_button(url(ctx.base, "queues", queue, "purge"), "Purge queue", ctx.token, "purge danger")),
        table(["Name", "ETA", "Request", "Retries", "Executions", "Last response", "Headers", "Payload bytes",
               "Deferred call / payload", "Actions"], rows, "No tasks in this queue.",
              [f"task-{t['name']}" for t in tasks]),
        _pager(here, offset, 100, info["tasks"]),
    ])
    return _page(ctx, f"Queue {queue}", body)


def tombstones(ctx: Context, queue: str) -> str:
    rows = [[t["name"], when(t["created"])] for t in tq.tombstones(queue)]
    body = join([
        html("<p>Names that ran or were deleted; they cannot be reused until the tombstone expires. {}</p>",
             link(url(ctx.base, "queues", queue), "Back to the queue")),
        table(["Name", "Since"], rows, "No tombstones."),
    ])
    return _page(ctx, f"Tombstones of {queue}", body)


def run_task(ctx: Context, queue: str, name: str) -> Response:
    status = tq.run_task(queue, name)["status"]
    outcome = "done" if 200 <= status < 300 else "will be retried (or was dropped if out of retries)"
    return _back(url(ctx.base, "queues", queue), f"Task {name} ran: HTTP {status}, {outcome}.")


def unconfirmed(ctx: Context, question: str, consequence: str, action: str, label: str,
                 cancel: str) -> Optional[str]:
    """A page asking to confirm a destructive POST (the console runs no script, so the question is a
    server round trip), or None once the form came back with `confirm=yes` (and its CSRF token)."""
    if ctx.request.form.get("confirm") == "yes":
        return None
    body = join([
        html('<p class="confirm-question"><strong>{}</strong></p><p>{}</p>', question, consequence),
        html("<p>{} {}</p>", post_button(action, label, ctx.token, "confirm danger", {"confirm": "yes"}),
             link(cancel, "Cancel", class_="cancel")),
    ])
    return _page(ctx, "Confirm", body)


def delete_task(ctx: Context, queue: str, name: str) -> Any:
    back = url(ctx.base, "queues", queue)
    page = unconfirmed(ctx, f"Delete task {name} of queue {queue}?", "It will not run; its name stays "
                        "usable again at once.", url(ctx.base, "queues", queue, "tasks", name, "delete"),
                        "Delete the task", back)
    if page is not None:
        return page
    tq.delete_task(queue, name)
    return _back(back, f"Task {name} deleted.")


def purge(ctx: Context, queue: str) -> Any:
    back = url(ctx.base, "queues", queue)
    count = tq.queue_dict(queue)["tasks"]
    page = unconfirmed(ctx, f"Purge queue {queue}?", f"Its {count} task(s) and its tombstones are removed.",
                        url(ctx.base, "queues", queue, "purge"), "Purge the queue", back)
    if page is not None:
        return page
    removed = tq.purge(queue)["purged"]
    return _back(back, f"Purged {removed} task(s) and the queue's tombstones.")


def reset(ctx: Context) -> Any:
    back = url(ctx.base, "queues")
    page = unconfirmed(ctx, "Reset everything?", "The datastore, every queue and tombstone, memcache, the "
                        "sent mail and the blobs are emptied.", url(ctx.base, "reset"), "Reset everything", back)
    if page is not None:
        return page
    tq.reset()
    return _back(back, "Datastore, queues and tombstones emptied.")


# -- datastore ----------------------------------------------------------------------------------------


def _pager(here: str, offset: int, size: int, total: int, **query: Any) -> Safe:
    links: List[Safe] = []
    if offset > 0:
        links.append(link(with_query(here, **query, offset=max(0, offset - size)), "Previous", class_="prev"))
    if offset + size < total:
        links.append(link(with_query(here, **query, offset=offset + size), "Next", class_="next"))
    return html('<p class="pager">{}</p>', join(links, " ")) if links else Safe("")


def datastore(ctx: Context) -> str:
    args = ctx.request.args
    namespace, kind = args.get("namespace", ""), args.get("kind", "")
    offset = max(0, _int(args.get("offset"), 0))
    here = url(ctx.base, "datastore")
    spaces = ds.namespaces() or [""]
    if namespace not in spaces:
        spaces.append(namespace)
    choices = [esc(ns or "(default)") if ns == namespace else
               link(url(ctx.base, "datastore", namespace=ns), ns or "(default)") for ns in spaces]
    parts = [html("<p>Namespace: {}</p>", join(choices, " | "))]
    kinds = ds.kinds(namespace)
    parts.append(html("<p>Kinds: {}</p>", join(
        [link(url(ctx.base, "datastore", namespace=namespace, kind=k), k, class_="kind") for k in kinds], " | ")
        if kinds else Safe('<span class="muted">no entities</span>')))
    text = args.get("gql", "").strip()
    parts.append(html('<form method="get" action="{}" class="gql"><input type="hidden" name="namespace" value="{}">'
                      '<label>GQL <input name="gql" size="80" value="{}" placeholder="SELECT * FROM Kind WHERE p = 1">'
                      '</label> <button type="submit">Run</button></form>', here, namespace, text))
    if text:
        try:
            found = [ds.entity_dict(e) for e in ds.gql_query(text, namespace)]
        except BadRequest as exc:
            parts.append(html('<p class="gql-error error">{}</p>', exc.description))
        else:
            parts.append(html("<h2>{} result(s)</h2>", len(found)))
            parts.append(_entity_table(ctx, found, "No entity matches."))
    elif kind:
        page = ds.entities(kind, namespace, offset, PAGE_SIZE)
        parts.append(html("<h2>{} ({} entities)</h2>", kind, page["total"]))
        parts.append(_entity_table(ctx, page["entities"], "No entities of this kind."))
        parts.append(_pager(here, offset, PAGE_SIZE, page["total"], namespace=namespace, kind=kind))
    types = join(html("<option>{}</option>", t) for t in ds.EDITABLE_TYPES)
    rows = join(html('<tr><td><input name="prop.{}"></td><td><select name="type.{}">{}</select></td>'
                     '<td><input name="value.{}"></td></tr>', i, i, types, i) for i in range(NEW_ENTITY_ROWS))
    parts.append(html('<h2>New entity</h2><form method="post" action="{}" class="new-entity">'
                      '<input type="hidden" name="xsrf_token" value="{}"><input type="hidden" name="namespace" value="{}">'
                      '<label>Kind <input name="kind" value="{}"></label> <label>Key name <input name="name" '
                      'placeholder="(blank: a new id)"></label><table><tr><th>Property</th><th>Type</th><th>Value</th>'
                      '</tr>{}</table><button type="submit" class="create">Create</button></form>',
                      url(ctx.base, "datastore", "new"), ctx.token, namespace, kind, rows))
    return _page(ctx, "Datastore", join(parts))


NEW_ENTITY_ROWS = 4


def new_entity(ctx: Context) -> Response:
    form = ctx.request.form
    rows = [(form.get(f"prop.{i}", ""), form.get(f"type.{i}", "str"), form.get(f"value.{i}", ""))
            for i in range(NEW_ENTITY_ROWS)]
    created = ds.create_entity(form.get("kind", ""), form.get("namespace", ""), form.get("name", ""), rows)
    info = ds.entity_dict(created)
    return _back(url(ctx.base, "datastore", "entity", info["key"]), f"Entity {info['key']} created.")


def _entity_table(ctx: Context, entities: List[Dict[str, Any]], empty: str) -> Safe:
    names: List[str] = []
    for entity in entities:
        names += [p["name"] for p in entity["properties"] if p["name"] not in names]
    rows = []
    for entity in entities:
        values = {p["name"]: p["text"] for p in entity["properties"]}
        ident = entity["name"] if entity["name"] is not None else entity["id"]
        rows.append([link(url(ctx.base, "datastore", "entity", entity["key"]), ident, class_="entity")]
                    + [values.get(n, "") for n in names])
    return table(["Key (id or name)"] + names, rows, empty)


def entity(ctx: Context, key: str) -> str:
    info = ds.entity_dict(ds.get_entity(key))
    action = url(ctx.base, "datastore", "entity", key)
    rows = []
    for p in info["properties"]:
        if p["editable"]:
            options = join(html('<option value="{}"{}>{}</option>', t, " selected" if t == p["type"] else "", t)
                           for t in ds.EDITABLE_TYPES)
            field = html('<select name="type.{}">{}</select> <input type="text" name="value.{}" value="{}">',
                         p["name"], options, p["name"], p["text"])
        else:
            field = html('<span class="muted">{} (not editable here)</span>', p["type"])
        rows.append([p["name"], p["type"], html('<code class="value">{}</code>', p["text"]),
                     "yes" if p["indexed"] else "no", field])
    path = " > ".join(f"{k}:{i}" for k, i in info["path"])
    body = join([
        html("<p>Kind <strong>{}</strong>, namespace {}, app {}, path <code>{}</code></p><p>Key <code>{}</code></p>",
             info["kind"], info["namespace"] or "(default)", info["app"], path, info["key"]),
        html('<form method="post" action="{}"><input type="hidden" name="xsrf_token" value="{}">{}'
             '<button type="submit" class="save">Save changes</button></form>', action, ctx.token,
             table(["Property", "Type", "Value", "Indexed", "New value"], rows, "No properties.")),
        html("<p>{} {}</p>", post_button(action + "/delete", "Delete entity", ctx.token, "delete danger"),
             link(url(ctx.base, "datastore", namespace=info["namespace"], kind=info["kind"]), "Back to the kind")),
    ])
    return _page(ctx, f"Entity {info['kind']}", body)


def edit_entity(ctx: Context, key: str) -> Response:
    form = ctx.request.form
    values = {k[len("value."):]: v for k, v in form.items() if k.startswith("value.")}
    types = {k[len("type."):]: v for k, v in form.items() if k.startswith("type.")}
    ds.edit_entity(key, values, types)
    return _back(url(ctx.base, "datastore", "entity", key), "Entity saved.")


def delete_entity(ctx: Context, key: str) -> Any:
    info = ds.entity_dict(ds.get_entity(key))
    page = unconfirmed(ctx, f"Delete entity {info['key']}?", "It is removed from the datastore.",
                        url(ctx.base, "datastore", "entity", key, "delete"), "Delete the entity",
                        url(ctx.base, "datastore", "entity", key))
    if page is not None:
        return page
    ds.delete_entity(key)
    return _back(url(ctx.base, "datastore", namespace=info["namespace"], kind=info["kind"]),
                 f"Entity {info['key']} deleted.")


# -- request log ---------------------------------------------------------------------------------------


def _request_filter(ctx: Context) -> Dict[str, str]:
    return {k: ctx.request.args.get(k, "").strip() for k in ("service", "path", "status", "user", "source")}


def _matches(r: Any, f: Dict[str, str]) -> bool:
    source = "task" if r.task_name else ("internal" if r.internal else "user")
    return ((not f["service"] or r.service == f["service"]) and (not f["path"] or f["path"] in r.path)
            and (not f["status"] or str(r.status).startswith(f["status"].rstrip("x")))
            and (not f["user"] or f["user"].lower() in r.user.lower()) and (not f["source"] or source == f["source"]))


def requests(ctx: Context) -> str:
    emulator = apiproxy.current().settings.get("emulator")
    records = emulator.request_log.recent(500) if emulator is not None else []
    wanted = _request_filter(ctx)
    shown = [r for r in records if _matches(r, wanted)][:200]
    now = time.time()
    rows = [[when(r.time, now), r.service, r.method,
             link(url(ctx.base, "requests", str(r.id)), r.path, class_="request"), r.status,
             f"{r.seconds * 1000:.1f} ms", r.user,
             "task " + r.task_name if r.task_name else ("internal" if r.internal else ""), r.dispatch_rule]
            for r in shown]
    services = sorted({r.service for r in records if r.service})
    options = join(html('<option value="{}"{}>{}</option>', name, Safe(" selected") if name == wanted["service"] else "",
                        name or "any") for name in [""] + services)
    sources = join(html('<option value="{}"{}>{}</option>', name, Safe(" selected") if name == wanted["source"] else "",
                        name or "any") for name in ["", "user", "task", "internal"])
    form = html('<form method="get" action="{}" class="filter"><label>Service <select name="service">{}</select></label> '
                '<label>Path contains <input name="path" value="{}"></label> <label>Status <input name="status" '
                'value="{}" placeholder="5xx" size="4"></label> <label>User <input name="user" value="{}"></label> '
                '<label>Source <select name="source">{}</select></label> <button type="submit">Filter</button> {}</form>',
                url(ctx.base, "requests"), options, wanted["path"], wanted["status"], wanted["user"], sources,
                link(url(ctx.base, "requests"), "Clear"))
    body = join([form, table(["Time", "Service", "Method", "Path", "Status", "Took", "User", "Source", "Dispatched by"],
                             rows, "No requests match." if any(wanted.values()) else "No requests yet.",
                             [f"request-{r.id}" for r in shown])])
    return _page(ctx, "Request log", body)


def request_detail(ctx: Context, record_id: int) -> str:
    emulator = apiproxy.current().settings.get("emulator")
    record = emulator.request_log.get(record_id) if emulator is not None else None
    if record is None:
        raise NotFound(f"Request {record_id} is no longer in the log (it keeps the last 500).")
    facts = [["Time", when(record.time)], ["Service", record.service], ["Host", record.host],
             ["Request", html("<code>{} {}</code>", record.method, record.path)], ["Status", record.status],
             ["Took", f"{record.seconds * 1000:.1f} ms"], ["User", record.user or "(not signed in)"],
             ["Source", "task " + record.task_name if record.task_name else ("internal" if record.internal else "user")],
             ["Dispatched by", record.dispatch_rule]]
    body = join([
        table(["", ""], facts),
        html("<h2>Headers in</h2>{}", table(["Name", "Value"], record.headers_in or [], "None.")),
        html("<h2>Headers out</h2>{}", table(["Name", "Value"], record.headers_out or [], "None.")),
        html("<p>{}</p>", link(url(ctx.base, "requests"), "Back to the log")),
    ])
    return _page(ctx, f"Request {record.id}", body)


# -- instances ----------------------------------------------------------------------------------------


def instances(ctx: Context) -> str:
    listed = instances_.instance_dicts()
    rows = [
        [i["service"], i["pid"] or "", i["port"] or "", html('<span class="state">{}</span>', i["state"]),
         when(i["started"]) if i["started"] else "", i["requests"], i["restarts"],
         "" if i["last_exit_code"] is None else i["last_exit_code"],
         html('<pre class="output">{}</pre>', "\n".join(i["last_output"][-10:] or [i["reason"]])),
         post_button(url(ctx.base, "instances", i["service"], "restart"), "Restart", ctx.token)]
        for i in listed
    ]
    body = join([
        html("<p>{}</p>", "Each python3 service runs in its own instance process, started from its entrypoint. "
                          "Classic services run inside the emulator's process and have no instance."),
        table(["Service", "PID", "Port", "State", "Started", "Requests", "Restarts", "Last exit code",
               "Last output", ""], rows, "No instances: no python3 service is served.",
              [f"instance-{i['service']}" for i in listed]),
    ])
    return _page(ctx, "Instances", body)


def restart_instance(ctx: Context, service: str) -> Response:
    instances_.restart(service)
    return _back(url(ctx.base, "instances"), f"Restarting the instance of service {service}.")
