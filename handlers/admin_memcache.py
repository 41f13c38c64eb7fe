"""The admin console's Memcache page, as the SDK's console had: statistics (hits, misses, items,
bytes, oldest item age), look up a key, set one, flush everything (after a confirmation).

Values are shown by the flags Google's memcache client stores with them (str, bytes, int, bool, or a
pickle). A pickled value is described from its opcodes, never unpickled (`deferred_inspect`), since
cache contents are app data. Keys are the app's strings; a key longer than 250 bytes is stored by
the client under its SHA-1, as production does, so the console looks it up the same way.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, `gae_emu.services.memcache`,
`gae_emu.ext.deferred_inspect`, the console's `admin_html`.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from werkzeug.exceptions import BadRequest, ServiceUnavailable
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from gae_emu import apiproxy
from gae_emu.ext.deferred_inspect import render, symbolic_load
from gae_emu.services.memcache import MemcacheService

from .admin_html import Safe, html, join, layout, post_button, table, url, with_query

if TYPE_CHECKING:
    from .admin import Context

# google.appengine.api.memcache's flags for the type of a stored value.
TYPE_STR, TYPE_UNICODE, TYPE_PICKLED, TYPE_INT, TYPE_LONG, TYPE_BOOL = 0, 1, 2, 3, 4, 5
TYPES = {"str": TYPE_UNICODE, "bytes": TYPE_STR, "int": TYPE_INT}
FLAG_TYPE_MASK = 7
MAX_KEY_BYTES = 250
MAX_SHOWN = 2000


def _service() -> MemcacheService:
    service = apiproxy.current().memcache
    if service is None:
        raise ServiceUnavailable("No memcache is running in this process.")
    return service


def stored_key(key: str) -> bytes:
    """The key as Google's client stores it (UTF-8; over 250 bytes, its SHA-1 hex digest)."""
    raw = key.encode("utf-8")
    return hashlib.sha1(raw).hexdigest().encode("ascii") if len(raw) > MAX_KEY_BYTES else raw


def describe_value(value: bytes, flags: int) -> Tuple[str, str]:
    """(type name, Python-like text) of a stored value, never unpickling it."""
    flags &= FLAG_TYPE_MASK  # the other bits (compression) say nothing of the type
    if flags == TYPE_UNICODE:
        return "str", repr(value.decode("utf-8", "replace"))
    if flags in (TYPE_INT, TYPE_LONG):
        return "int", value.decode("ascii", "replace")
    if flags == TYPE_BOOL:
        return "bool", "True" if value == b"1" else "False"
    if flags == TYPE_PICKLED:
        try:
            return "pickled", render(symbolic_load(value), MAX_SHOWN)
        except Exception as exc:  # an unreadable pickle is shown as such, never run
            return "pickled", f"(unreadable pickle: {type(exc).__name__})"
    return "bytes", repr(value)[:MAX_SHOWN]


def _form(ctx: Context) -> Dict[str, str]:
    return {k: ctx.request.form.get(k, "") for k in ("key", "namespace", "value", "type")}


def page(ctx: Context) -> str:
    stats = _service().stats()
    key, namespace = ctx.request.args.get("key"), ctx.request.args.get("namespace", "")
    found: Optional[Safe] = None
    if key:
        item = _service().get(namespace, stored_key(key), peek=True)
        if item is None or item.locked:
            found = html('<p class="lookup miss">No value for key <code>{}</code>.</p>', key)
        else:
            kind, text = describe_value(item.value, item.flags)
            found = html('<p class="lookup hit">Key <code>{}</code> ({}, {} bytes): <code class="value">{}</code></p>',
                         key, kind, len(item.value), text)
    rows = [[name, value] for name, value in stats.items()]
    body = join([
        table(["Statistic", "Value"], rows),
        html('<h2>Look up a key</h2><form method="get" action="{}" class="lookup">'
             '<label>Key <input name="key" value="{}"></label> <label>Namespace <input name="namespace" value="{}">'
             '</label> <button type="submit">Get</button></form>{}',
             url(ctx.base, "memcache"), key or "", namespace, found or ""),
        html('<h2>Set a key</h2><form method="post" action="{}" class="set"><input type="hidden" name="xsrf_token" '
             'value="{}"><label>Key <input name="key"></label> <label>Namespace <input name="namespace"></label> '
             '<label>Value <input name="value"></label> <label>Type <select name="type">'
             '<option>str</option><option>bytes</option><option>int</option></select></label> '
             '<button type="submit" class="set">Set</button></form>', url(ctx.base, "memcache", "set"), ctx.token),
        html("<h2>Flush</h2><p>Empty the cache and reset its statistics (you are asked to confirm). {}</p>",
             post_button(url(ctx.base, "memcache", "flush"), "Flush the cache", ctx.token, "flush danger")),
    ])
    return layout("Memcache", body, ctx.base, ctx.request.args.get("msg"), ctx.request.args.get("error") == "1")


def set_form(ctx: Context) -> Response:
    form = _form(ctx)
    if not form["key"]:
        raise BadRequest("A key is needed.")
    kind = form["type"] or "str"
    if kind not in TYPES:
        raise BadRequest(f"type: {kind!r} is not one of {', '.join(TYPES)}")
    if kind == "int":
        try:
            value = str(int(form["value"])).encode("ascii")
        except ValueError:
            raise BadRequest(f"value: {form['value']!r} is not an integer") from None
    else:
        value = form["value"].encode("utf-8")
    _service().set(form["namespace"], stored_key(form["key"]), value, TYPES[kind])
    return redirect(with_query(url(ctx.base, "memcache"), key=form["key"], namespace=form["namespace"] or None,
                               msg=f"Key {form['key']} set."), code=303)


def flush_form(ctx: Context) -> Any:
    from .admin_pages import unconfirmed

    page = unconfirmed(ctx, "Flush the cache?", "Every item is removed and the statistics start again.",
                       url(ctx.base, "memcache", "flush"), "Flush the cache", url(ctx.base, "memcache"))
    if page is not None:
        return page
    _service().flush()
    return redirect(with_query(url(ctx.base, "memcache"), msg="Cache flushed."), code=303)


def api_stats(ctx: Context) -> Dict[str, Any]:
    return {"stats": _service().stats()}
