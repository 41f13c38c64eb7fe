"""The admin console's JSON API (what `gae_emu.testing.EmulatorHandle` calls), under `/api/`.

Each function takes the request context and returns a JSON-ready dict; `admin.py` routes to them
and turns werkzeug HTTP exceptions into `{"error": ...}` answers. POSTs read an optional JSON body.

Imports: the standard library, `gae_emu.apiproxy`, and the console's `admin_queues`/`admin_datastore`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Dict

from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from gae_emu import apiproxy

from . import admin_datastore as ds
from . import admin_instances as instances_
from . import admin_queues as tq

if TYPE_CHECKING:
    from .admin import Context

MAX_TIMEOUT = 3600.0


MAX_BODY = 1024 * 1024  # the API's bodies are a few hundred bytes; see docs/differences.md
_INT_RE = re.compile(r"[+-]?[0-9]{1,19}")
_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 63 - 1


def _body(ctx: Context) -> Dict[str, Any]:
    """The request's JSON object ({} without a body); malformed JSON, nesting past Python's limit
    and strings that are not valid Unicode (lone surrogates) are a 400, not a 500."""
    if not ctx.request.content_length:
        return {}
    if ctx.request.content_length > MAX_BODY:
        raise RequestEntityTooLarge(f"The request body is larger than {MAX_BODY} bytes.")
    raw = ctx.request.get_data(cache=True)
    try:
        data = json.loads(raw)
        json.dumps(data, allow_nan=False).encode("utf-8")  # NaN/Infinity and lone surrogates fail here
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None
    except (ValueError, UnicodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _number(value: Any, default: float, name: str) -> float:
    """A finite number from JSON (or its text): NaN, infinities, booleans and huge values are a 400."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise BadRequest(f"{name} must be a number.")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"{name} must be a number.") from None
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number.")
    return number


def _int_arg(ctx: Context, name: str, default: int) -> int:
    """A query-string integer in the 64-bit range App Engine's APIs use, written in decimal."""
    text = ctx.request.args.get(name)
    if text is None:
        return default
    if not _INT_RE.fullmatch(text.strip()) or not _INT_MIN <= int(text) <= _INT_MAX:
        raise BadRequest(f"{name} must be an integer between {_INT_MIN} and {_INT_MAX}.")
    return int(text)


# -- task queues --------------------------------------------------------------------------------------


def queues(ctx: Context) -> Dict[str, Any]:
    return {"queues": tq.queue_dicts(), "task_running": not tq.paused()}


def tasks(ctx: Context, queue: str) -> Dict[str, Any]:
    """`?payload=1` adds each task's whole payload (`payload_base64`), for the test handle."""
    listed = tq.tasks(queue, offset=_int_arg(ctx, "offset", 0), limit=_int_arg(ctx, "limit", 1000),
                      payloads=ctx.request.args.get("payload") == "1")
    return {"tasks": listed}


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
    if not all(isinstance(t, str) for t in types.values()):
        raise BadRequest("types must map property names to type names (strings).")
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
