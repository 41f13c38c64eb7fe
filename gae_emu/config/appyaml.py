"""Loading app.yaml into an `AppConfig`: top-level keys, includes and builtins, script import checks.

`load_app_yaml` reads one service's app.yaml, `load_builtin_app_yaml` the emulator's own (its
handlers only), `format_handler_table` prints what `gae-emu check` shows. Every mistake in the file
and the files it includes is collected and raised as one `ConfigError`.

Merging follows App Engine's `appinfo_includes` (B1): builtins become includes, processed before
`includes:`, depth first; included handlers go before the app's own unless `position: tail`;
an included file's env_variables override app.yaml's (the later value wins).

Imports: the standard library, `gae_emu.config.*` (which imports yaml).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from gae_emu.config import appkeys
from gae_emu.config.errors import ConfigError
from gae_emu.config.handlers import (
    DEFAULT_ENTRYPOINT, DEFERRED_REF, ParsedHandler, ScriptContext, parse_entrypoint, parse_handler,
)
from gae_emu.config.models import DEFERRED_URL, AppConfig, Handler, ScriptRef
from gae_emu.config.scriptcheck import import_problem
from gae_emu.config.yamlsource import MapView, Source

log = logging.getLogger("gae_emu.config")

MAX_URL_MAPS = 100
INCLUDE_KEYS = ("handlers", "env_variables", "includes", "builtins", "skip_files", "admin_console",
                "manual_scaling", "build_env_variables")
CATCH_ALL_URL = "/.*"


class _Merge:
    """What includes and builtins contribute, in App Engine's aggregate order."""

    def __init__(self) -> None:
        self.handlers: List[ParsedHandler] = []
        self.env: Dict[str, str] = {}
        self.skip_files: List[str] = []
        self.builtins: List[str] = []
        self.seen: set = set()  # included files, resolved; App Engine includes each once


def load_app_yaml(path: Union[str, Path], *, check_imports: bool = True) -> AppConfig:
    """Validate an app.yaml (or the app.yaml in a directory) into an AppConfig, or raise ConfigError."""
    display = str(path)
    file = Path(path)
    if file.is_dir():
        file = file / "app.yaml"
        display = os.path.join(display, "app.yaml")
    src = Source(file, display)
    top = src.load()
    root = file.resolve().parent
    top.reject_unknown(appkeys.APP_KEYS)
    runtime = appkeys.runtime(top)
    entry_value = top.get("entrypoint")
    entrypoint_text = entry_value.as_str() if entry_value is not None else None
    entry_ref = (parse_entrypoint(entrypoint_text) if entrypoint_text else None) or DEFAULT_ENTRYPOINT
    ctx = ScriptContext(runtime=runtime or "python27", root=root, entrypoint=entry_ref)

    own = _handlers(top, ctx)
    merge = _Merge()
    merge.seen.add(file.resolve())
    _merge_builtins(top, merge, ctx)
    _merge_includes(top, merge, ctx, file.resolve(), root)
    head = [p for p in merge.handlers if p.handler.position != "tail"]
    tail = [p for p in merge.handlers if p.handler.position == "tail"]
    parsed = head + own + tail
    if len(parsed) > MAX_URL_MAPS:
        extra = parsed[MAX_URL_MAPS]
        where = extra.handler.source
        src.error(top.key_mark("handlers") if "handlers" in top else top.mark, "handlers",
                  f"{len(parsed)} handlers (after includes); App Engine allows at most {MAX_URL_MAPS} "
                  f"(the first one too many is at {where})")
    handlers = [_without_position(p.handler) for p in parsed]
    if runtime and runtime.startswith("python3") and not any(h.url == CATCH_ALL_URL for h in handlers):
        # Modern runtimes send every unmatched path to the entrypoint app (B1).
        handlers.append(Handler(url=CATCH_ALL_URL, pattern=re.compile(CATCH_ALL_URL + "$"),
                                script=entry_ref, source=f"{display}: entrypoint"))
    env = appkeys.env_variables(top.get("env_variables"))
    env.update(merge.env)
    fields = appkeys.app_fields(top, root, runtime)
    if check_imports and not (runtime or "").startswith("python3"):  # python3 code runs in instances only
        _check_imports(parsed, root)
    src.check()
    return AppConfig(
        path=file.resolve(), root=root, runtime=runtime or "", handlers=tuple(handlers),
        entrypoint=entrypoint_text, env_variables=tuple(env.items()),
        builtins=tuple(dict.fromkeys(merge.builtins)),
        skip_files=tuple(fields.pop("skip_files", ())) + tuple(merge.skip_files),
        application=fields.pop("application", None) or appkeys.default_application(root), **fields,
    )


def load_builtin_app_yaml(path: Union[str, Path]) -> Tuple[Handler, ...]:
    """The handlers of gae-emu's own app.yaml (built-in endpoints), validated like any app.yaml."""
    file = Path(path)
    src = Source(file, str(path))
    top = src.load()
    top.reject_unknown(appkeys.APP_KEYS)
    runtime = appkeys.runtime(top)
    ctx = ScriptContext(runtime=runtime or "python27", root=file.resolve().parent, builtin_file=True)
    parsed = _handlers(top, ctx)
    src.check()
    return tuple(_without_position(p.handler) for p in parsed)


def format_handler_table(app: AppConfig) -> str:
    """The resolved handler table, in match order, as `gae-emu check` prints it."""
    rows = [("#", "url", "kind", "target", "login", "source")]
    for index, handler in enumerate(app.handlers, 1):
        if handler.script is not None:
            target = str(handler.script) + (" (built-in)" if handler.script.builtin else "")
        elif handler.static_dir is not None:
            target = _relative(handler.static_dir, app.root)
        else:
            target = f"{handler.static_files} (upload {handler.upload})"
        rows.append((str(index), handler.url, handler.kind, target, handler.login, handler.source))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    header = f"{app.path} (service {app.service}, version {app.version}, runtime {app.runtime})"
    return "\n".join([header] + [line.rstrip() for line in lines])


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) + "/"
    except ValueError:
        return str(path)


def _without_position(handler: Handler) -> Handler:
    """`position` only steers the merge; App Engine drops it from the merged handler."""
    return handler if handler.position is None else dataclasses.replace(handler, position=None)


def _handlers(view: MapView, ctx: ScriptContext) -> List[ParsedHandler]:
    value = view.get("handlers")
    if value is None:
        return []
    parsed = [parse_handler(item, ctx) for item in value.as_list()]
    return [p for p in parsed if p is not None]


def _merge_builtins(view: MapView, merge: _Merge, ctx: ScriptContext) -> None:
    for name, item in appkeys.builtins(view.get("builtins")):
        merge.builtins.append(name)
        if name == "deferred":
            handler = Handler(url=DEFERRED_URL, pattern=re.compile(re.escape(DEFERRED_URL) + "$"),
                              script=DEFERRED_REF, login="admin",
                              source=f"{item.src.location(item.mark)} (builtins: deferred)")
            merge.handlers.append(ParsedHandler(handler))
        else:
            log.warning("%s: builtin %r is accepted but gae-emu serves nothing for it",
                        item.src.location(item.mark), name)


def _merge_includes(view: MapView, merge: _Merge, ctx: ScriptContext, current: Path, root: Path) -> None:
    value = view.get("includes")
    if value is None:
        return
    for item in value.as_list():
        text = item.as_str()
        if text is None:
            continue
        found = _find_include(text, current, root, item.src.display)
        if found is None:
            item.error(f"included file {text!r} does not exist (looked next to {current.name} and in {root})")
            continue
        file, display = found
        if file in merge.seen:
            log.warning("%s: %s is already included; skipped", item.src.location(item.mark), text)
            continue
        merge.seen.add(file)
        try:
            inc = Source(file, display, problems=item.src.problems).load()
        except ConfigError:  # already recorded in the shared problem list
            continue
        inc.reject_unknown(INCLUDE_KEYS, "an included file")
        merge.handlers.extend(_handlers(inc, ctx))
        merge.env.update(appkeys.env_variables(inc.get("env_variables")))
        merge.skip_files.extend(appkeys.skip_files(inc.get("skip_files")))
        _merge_builtins(inc, merge, ctx)
        _merge_includes(inc, merge, ctx, file, root)


def _find_include(text: str, current: Path, root: Path, including_display: str) -> Optional[Tuple[Path, str]]:
    """App Engine looks next to the including file first, then in the app root; a directory means
    its include.yaml."""
    for base, base_display in ((current.parent, os.path.dirname(including_display)), (root, None)):
        candidate = base / text
        display = os.path.normpath(os.path.join(base_display, text)) if base_display is not None else str(candidate)
        if candidate.is_dir():
            candidate, display = candidate / "include.yaml", os.path.join(display, "include.yaml")
        if candidate.is_file():
            return candidate.resolve(), display
    return None


def _check_imports(parsed: List[ParsedHandler], root: Path) -> None:
    """Import each distinct classic app script once; report at the handler that names it."""
    checked: Dict[ScriptRef, Optional[str]] = {}
    for item in parsed:
        ref = item.handler.script
        if ref is None or ref.builtin or item.script_value is None:
            continue
        if ref not in checked:
            checked[ref] = import_problem(ref, root)
            if checked[ref]:
                item.script_value.error(checked[ref])
