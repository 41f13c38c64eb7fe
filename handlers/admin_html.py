"""HTML building blocks of the admin console: escaping by default, the page layout, forms, links.

Everything the console shows is user data (task payloads, headers, entity values, request paths),
so values are escaped unless they are `Safe` (HTML this module built). `html(template, *values)`
escapes every value it formats; pages never concatenate raw strings into markup. The pages also
carry a Content-Security-Policy without scripts (set by `admin.py`), so even a missed escape would
not run anything.

Imports: the standard library only.
"""
from __future__ import annotations

import html as html_lib
import time
from typing import Any, Iterable, Optional
from urllib.parse import quote, urlencode

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
nav{background:#24527a;padding:.6em 1em}nav a{color:#fff;margin-right:1.4em;text-decoration:none;font-weight:600}
main{padding:1em 1.5em}h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;margin:.4em 0 1em}th,td{border:1px solid #ddd;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#eef2f6}td.num{text-align:right}
code,pre,.mono{font-family:ui-monospace,monospace;font-size:12.5px;white-space:pre-wrap;word-break:break-all}
form.inline{display:inline;margin:0}button{cursor:pointer;margin:.1em}.danger{color:#a00}
.msg{padding:.5em .8em;background:#e6f4ea;border:1px solid #b7dfc2;margin-bottom:1em}
.msg.error{background:#fdecea;border-color:#f5c2bd}.muted{color:#777}details{max-width:40em}
input[type=text]{width:28em}.pager a{margin-right:1em}
"""


class Safe(str):
    """Markup built by this module: formatting it into a page does not escape it again."""


def esc(value: Any) -> Safe:
    if isinstance(value, Safe):
        return value
    return Safe(html_lib.escape("" if value is None else str(value), quote=True))


def html(template: str, *args: Any, **kwargs: Any) -> Safe:
    """`template.format(...)` with every value escaped (the template itself is trusted markup)."""
    return Safe(template.format(*(esc(a) for a in args), **{k: esc(v) for k, v in kwargs.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(esc(p) for p in parts))


def url(base: str, *segments: str, **query: Any) -> str:
    """A console URL under `base`; path segments are percent-encoded whole (no '/' slips through)."""
    return with_query(base + "".join("/" + quote(str(s), safe="") for s in segments), **query)


def with_query(href: str, **query: Any) -> str:
    """`href` plus query parameters (None and "" left out)."""
    params = {k: v for k, v in query.items() if v is not None and v != ""}
    if not params:
        return href
    return href + ("&" if "?" in href else "?") + urlencode(params)


def link(href: str, text: Any, **attrs: Any) -> Safe:
    extra = join(html(' {}="{}"', k.rstrip("_"), v) for k, v in attrs.items())
    return html('<a href="{}"{}>{}</a>', href, extra, text)


def post_button(action: str, label: str, token: str, css: str = "", hidden: Optional[dict] = None) -> Safe:
    """A one-button form that POSTs to `action` with the CSRF token."""
    fields = join(html('<input type="hidden" name="{}" value="{}">', k, v) for k, v in (hidden or {}).items())
    return html('<form class="inline" method="post" action="{}"><input type="hidden" name="xsrf_token" value="{}">'
                '{}<button type="submit" class="{}">{}</button></form>', action, token, fields, css, label)


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], empty: str = "Nothing here.",
          row_ids: Optional[Iterable[str]] = None) -> Safe:
    rows = list(rows)
    if not rows:
        return html('<p class="muted">{}</p>', empty)
    ids = list(row_ids) if row_ids is not None else [None] * len(rows)
    head = join(html("<th>{}</th>", h) for h in headers)
    body = join(
        html("<tr{}>{}</tr>", html(' id="{}"', rid) if rid else "", join(html("<td>{}</td>", c) for c in row))
        for rid, row in zip(ids, rows)
    )
    return html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def when(epoch: Optional[float], now: Optional[float] = None) -> Safe:
    """UTC time plus how far away it is: '2024-05-01 12:00:03Z (in 5s)'."""
    if epoch is None:
        return Safe("&ndash;")
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"
    delta = epoch - now
    span = f"{abs(delta):.0f}s" if abs(delta) < 120 else f"{abs(delta) / 60:.0f}m"
    return html('{} <span class="muted">({})</span>', stamp, f"in {span}" if delta > 0 else f"{span} ago")


def layout(title: str, body: Safe, base: str, message: Optional[str] = None, error: bool = False) -> str:
    nav = join([
        link(url(base, "queues"), "Task queues"),
        link(url(base, "cron"), "Cron"),
        link(url(base, "datastore"), "Datastore"),
        link(url(base, "requests"), "Request log"),
        link(url(base, "memcache"), "Memcache"),
        link(url(base, "mail"), "Mail"),
        link(url(base, "instances"), "Instances"),
        link(url(base, "blobstore"), "Blobstore"),
    ])
    note = html('<div class="msg{}">{}</div>', " error" if error else "", message) if message else ""
    return html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{} &middot; gae-emu admin</title>'
        "<style>{}</style></head><body><nav>{}</nav><main><h1>{}</h1>{}{}</main></body></html>",
        title, Safe(CSS), nav, title, note, body,
    )
