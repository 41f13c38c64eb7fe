"""The admin console's JSON API (what `gae_emu.testing.EmulatorHandle` calls), under `/api/`.

Each function takes the request context and returns a JSON-ready dict; `admin.py` routes to them
and turns werkzeug HTTP exceptions into `{"error": ...}` answers. POSTs read an optional JSON body.

Imports: the standard library, `gae_emu.apiproxy`, and the console's `admin_queues`/`admin_datastore`.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Dict

from werkzeug.exceptions import BadRequest

from gae_emu import apiproxy

from . import admin_datastore as ds
from . import admin_instances as instances_
from . import admin_queues as tq

if TYPE_CHECKING:
    from .admin import Context

MAX_TIMEOUT = 3600.0


def _body(ctx: Context) -> Dict[str, Any]:
    data = ctx.request.get_json(force=True, silent=True) if ctx.request.content_length else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _number(value: Any, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number.") from None


def _int_arg(ctx: Context, name: str, default: int) -> int:
    return int(_number(ctx.request.args.get(name), default, name))


# -- task queues --------------------------------------------------------------------------------------


def queues(ctx: Context) -> Dict[str, Any]:
    return {"queues": tq.queue_dicts(), "task_running": not tq.paused()}


def tasks(ctx: Context, queue: str) -> Dict[str, Any]:
    return {"tasks": tq.tasks(queue, offset=_int_arg(ctx, "offset", 0), limit=_int_arg(ctx, "limit", 1000))}


def tombstones(ctx: Context, queue: str) -> Dict[str, Any]:
    return {"tombstones": tq.tombstones(queue)}


def run_task(ctx: Context, queue: str, name: str) -> Dict[str, Any]:
    return tq.run_task(queue, name)


def delete_task(ctx: Context, queue: str, name: str) -> Dict[str, Any]:
    return tq.delete_task(queue, name)


def purge(ctx: Context, queue: str) -> Dict[str, Any]:
    return tq.purge(queue)


def reset(ctx: Context) -> Dict[str, Any]:
    return tq.reset()


def _timeout(ctx: Context) -> float:
    return max(0.0, min(MAX_TIMEOUT, _number(_body(ctx).get("timeout"), 30.0, "timeout")))


def run_due(ctx: Context) -> Dict[str, Any]:
    return tq.run_due(_timeout(ctx))


def wait_idle(ctx: Context) -> Dict[str, Any]:
    return tq.wait_idle(_timeout(ctx))


# -- datastore ----------------------------------------------------------------------------------------


def namespaces(ctx: Context) -> Dict[str, Any]:
    return {"namespaces": ds.namespaces()}


def kinds(ctx: Context) -> Dict[str, Any]:
    namespace = ctx.request.args.get("namespace", "")
    return {"namespace": namespace, "kinds": ds.kinds(namespace)}


def entities(ctx: Context) -> Dict[str, Any]:
    args = ctx.request.args
    return ds.entities(args.get("kind", ""), args.get("namespace", ""), _int_arg(ctx, "offset", 0),
                       _int_arg(ctx, "limit", 20))


def entity(ctx: Context, key: str) -> Dict[str, Any]:
    return ds.entity_dict(ds.get_entity(key))


def edit_entity(ctx: Context, key: str) -> Dict[str, Any]:
    """Body: {"properties": {name: text or JSON scalar}, "types": {name: type}} (types optional)."""
    body = _body(ctx)
    values, types = body.get("properties") or {}, body.get("types") or {}
    if not isinstance(values, dict) or not isinstance(types, dict):
        raise BadRequest("properties and types must be JSON objects.")
    return ds.entity_dict(ds.edit_entity(key, values, types))


def delete_entity(ctx: Context, key: str) -> Dict[str, Any]:
    return ds.delete_entity(key)


# -- request log ---------------------------------------------------------------------------------------


def requests(ctx: Context) -> Dict[str, Any]:
    emulator = apiproxy.current().settings.get("emulator")
    limit = max(1, min(500, _int_arg(ctx, "limit", 100)))
    records = emulator.request_log.recent(limit) if emulator is not None else []
    return {"requests": [asdict(r) for r in records]}


# -- instances (python3 services) ----------------------------------------------------------------------


def instances(ctx: Context) -> Dict[str, Any]:
    return {"instances": instances_.instance_dicts()}


def restart_instance(ctx: Context, service: str) -> Dict[str, Any]:
    return instances_.restart(service)
