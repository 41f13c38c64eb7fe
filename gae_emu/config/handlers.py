"""One `handlers:` entry of app.yaml → a `Handler`, and `script:` / `entrypoint` → a `ScriptRef`.

Field rules follow App Engine's `appinfo.URLMap` (B1): each handler kind allows its own fields, `url`
is a regex App Engine anchors itself, and the SDK's built-in deferred script (in any of its three
spellings) becomes gae-emu's own deferred handler.

Imports: the standard library, `gae_emu.config.models`, `gae_emu.config.yamlsource`.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from gae_emu.config.models import AUTH_FAIL_ACTIONS, LOGIN_VALUES, SECURE_VALUES, Handler, ScriptRef
from gae_emu.config.yamlsource import Value

DEFERRED_REF = ScriptRef("gae_emu.handlers.deferred", "application", builtin=True)
# The SDK spells its deferred handler three ways; all of them mean ours.
DEFERRED_SCRIPTS = (
    "$PYTHON_LIB/google/appengine/ext/deferred/handler.py",
    "google.appengine.ext.deferred.deferred.application",
    "google.appengine.ext.deferred.application",
)
DEFAULT_ENTRYPOINT = ScriptRef("main", "app")
REDIRECT_CODES = ("301", "302", "303", "307")

COMMON_FIELDS = ("url", "login", "auth_fail_action", "secure", "redirect_http_response_code")
STATIC_FIELDS = ("mime_type", "expiration", "require_matching_file", "http_headers", "application_readable")
KIND_FIELDS: Dict[str, Tuple[str, ...]] = {
    "script": ("script", "position"),
    "static_files": ("static_files", "upload") + STATIC_FIELDS,
    "static_dir": ("static_dir",) + STATIC_FIELDS,
}
_DOTTED_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_ENTRYPOINT_TOKEN_RE = re.compile(r"([A-Za-z_][\w.]*):([A-Za-z_]\w*)")
_HEADER_NAME_RE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"


@dataclass
class ScriptContext:
    """What resolving a handler needs from the rest of app.yaml."""

    runtime: str
    root: Path
    entrypoint: ScriptRef = DEFAULT_ENTRYPOINT
    builtin_file: bool = False  # the emulator's own app.yaml: only gae_emu.* refs


@dataclass
class ParsedHandler:
    handler: Handler
    script_value: Optional[Value] = None  # where to point an import error


def parse_entrypoint(command: str) -> Optional[ScriptRef]:
    """The WSGI app a python3 `entrypoint` serves: the last `module:attr` token (gunicorn style)."""
    try:
        tokens = shlex.split(command)
    except ValueError:  # an unbalanced quote; the plain split still finds `main:app`
        tokens = command.split()
    refs = [m for m in map(_ENTRYPOINT_TOKEN_RE.fullmatch, tokens) if m]
    return ScriptRef(refs[-1].group(1), refs[-1].group(2)) if refs else None


def resolve_script(text: str, ctx: ScriptContext) -> Tuple[Optional[ScriptRef], str]:
    """(ref, "") or (None, why the script value cannot be served)."""
    text = text.strip()
    python3 = ctx.runtime.startswith("python3")
    if python3 and not ctx.builtin_file and not (text == "gae_emu" or text.startswith("gae_emu.")):
        # The python3 runtime sends every script handler to the entrypoint, whatever it names
        # (`auto`, or a leftover `main.app`); the app's own code serves /_ah/queue/deferred too.
        return ctx.entrypoint, ""
    if text in DEFERRED_SCRIPTS:
        return DEFERRED_REF, ""
    if text.startswith("$PYTHON_LIB/"):
        return None, f"{text!r}: gae-emu provides only the SDK's deferred handler among $PYTHON_LIB scripts"
    if text == "auto":
        return None, "'auto' is for python3 runtimes; python27 names a WSGI app as package.module.attr"
    if text.endswith(".py"):
        return None, (f"{text!r} is a CGI script, which gae-emu does not run; name the WSGI "
                      "application as package.module.attr")
    if not _DOTTED_RE.fullmatch(text):
        return None, f"{text!r} is not a WSGI application reference like package.module.app"
    module, attr = text.rsplit(".", 1)
    builtin = module == "gae_emu" or module.startswith("gae_emu.")
    if ctx.builtin_file and not builtin:
        return None, f"{text!r}: the emulator's app.yaml may only name gae_emu.* applications"
    return ScriptRef(module, attr, builtin=builtin), ""


def parse_handler(item: Value, ctx: ScriptContext) -> Optional[ParsedHandler]:
    view = item.as_map()
    if view is None:
        return None
    src = item.src
    kinds = [kind for kind in KIND_FIELDS if kind in view]
    if len(kinds) != 1:
        found = " and ".join(kinds) if kinds else "none"
        src.error(view.mark, item.path,
                  f"a handler needs exactly one of script, static_dir, static_files (found {found})")
        view.reject_unknown(COMMON_FIELDS + tuple(f for k in KIND_FIELDS.values() for f in k))
        return None
    kind = kinds[0]
    allowed = COMMON_FIELDS + KIND_FIELDS[kind]
    _reject_fields(view, kind, allowed)
    if not view.require("url"):
        return None
    fields: Dict[str, object] = {}
    url, pattern = _parse_url(view.get("url"), kind)
    script_value: Optional[Value] = None
    if kind == "script":
        value = view.get("script")
        text = value.as_str()
        if text is not None:
            ref, why = resolve_script(text, ctx)
            if ref is None:
                value.error(why)
            fields["script"] = ref
            script_value = value
        position = view.get("position")
        if position is not None:
            fields["position"] = position.as_str(choices=("head", "tail"))
    elif kind == "static_dir":
        fields["static_dir"] = _static_dir(view.get("static_dir"), ctx.root)
    else:
        fields["static_files"] = view.get("static_files").as_str()
        if view.require("upload"):
            fields["upload"] = view.get("upload").as_regex()
        _check_groups(view.get("static_files"), fields["static_files"], pattern)
    fields.update(_parse_common(view, kind))
    if url is None or pattern is None or fields.get(kind) is None:
        return None
    handler = Handler(url=url, pattern=pattern, source=src.location(view.mark),
                      **{k: v for k, v in fields.items() if v is not None})  # type: ignore[arg-type]
    return ParsedHandler(handler, script_value)


def _reject_fields(view, kind: str, allowed: Tuple[str, ...]) -> None:
    """Unknown keys, and keys valid for another handler kind but not this one."""
    every = set(COMMON_FIELDS).union(*KIND_FIELDS.values())
    view.reject_unknown(every)
    for key in view.keys():
        if key in every and key not in allowed:
            view.src.error(view.key_mark(key), f"{view.path}.{key}",
                           f"not allowed in a {kind} handler (allowed: {', '.join(sorted(allowed))})")


def _parse_url(value: Value, kind: str) -> Tuple[Optional[str], Optional[re.Pattern]]:
    url = value.as_str()
    if url is None:
        return None, None
    if not url:
        value.error("must not be empty")
        return None, None
    if not url.startswith(("/", "(", ".", "^")):
        value.error(f"{url!r} must start with / (it is matched against the request path)")
        return None, None
    if url.startswith("^") or url.endswith("$"):
        value.error(f"{url!r} must not start with ^ or end with $: App Engine anchors the url itself")
        return None, None
    # A static_dir url is a prefix: App Engine serves `<url>/<file>` from the directory.
    regex = (url.rstrip("/") + "/(.*)") if kind == "static_dir" else url
    try:
        return url, re.compile(regex + "$")
    except re.error as exc:
        value.error(f"{url!r} is not a valid regular expression: {exc}")
        return None, None


def _static_dir(value: Value, root: Path) -> Optional[Path]:
    text = value.as_str()
    if text is None:
        return None
    path = (root / text).resolve()
    try:
        path.relative_to(root.resolve())
    except ValueError:
        value.error(f"{text!r} is outside the app directory")
        return None
    if not path.is_dir():
        value.error(f"directory {text!r} does not exist (relative to {root})")
        return None
    return path


def _check_groups(value: Optional[Value], template: Optional[str], pattern: Optional[re.Pattern]) -> None:
    """`static_files: static/\\2` needs the url regex to have a second group."""
    if value is None or template is None or pattern is None:
        return
    for ref in re.findall(r"\\(\d+)", template):
        if int(ref) > pattern.groups:
            value.error(f"refers to group \\{ref} but the url has {pattern.groups} group(s)")
            return


def _parse_common(view, kind: str) -> Dict[str, object]:
    fields: Dict[str, object] = {}
    enums = (("login", LOGIN_VALUES), ("auth_fail_action", AUTH_FAIL_ACTIONS), ("secure", SECURE_VALUES))
    for key, choices in enums:
        value = view.get(key)
        if value is not None:
            fields[key] = value.as_str(choices=choices)
    code = view.get("redirect_http_response_code")
    if code is not None:
        text = code.as_str(choices=REDIRECT_CODES)
        fields["redirect_http_response_code"] = int(text) if text else None
    if kind == "script":
        return fields
    for key in ("require_matching_file", "application_readable"):
        value = view.get(key)
        if value is not None:
            fields[key] = value.as_bool()
    if view.get("mime_type") is not None:
        fields["mime_type"] = view.get("mime_type").as_str(
            pattern=r"[\w.+-]+/[\w.+*-]+(\s*;.*)?", pattern_desc="a MIME type like text/html")
    if view.get("expiration") is not None:
        fields["expiration"] = view.get("expiration").as_expiration()
    headers = view.get("http_headers")
    if headers is not None:
        fields["http_headers"] = _http_headers(headers)
    return fields


def _http_headers(value: Value) -> Optional[Tuple[Tuple[str, str], ...]]:
    view = value.as_map()
    if view is None:
        return None
    view.reject_unknown(view.keys())  # only reports repeated keys
    pairs: List[Tuple[str, str]] = []
    for name in view.keys():
        if not re.fullmatch(_HEADER_NAME_RE, name):
            view.src.error(view.key_mark(name), f"{view.path}.{name}", "not a valid HTTP header name")
            continue
        text = view.get(name).as_str()
        if text is not None:
            pairs.append((name, text))
    return tuple(pairs)
