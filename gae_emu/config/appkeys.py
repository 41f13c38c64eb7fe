"""The top-level keys of app.yaml other than `handlers` and `includes`: their rules and values.

Rules come from App Engine's `appinfo.AppInfoExternal` (B1). Keys gae-emu does not act on (scaling,
instance_class, vpc_access_connector, ...) are still checked, so a typo is caught here and not at
deploy time.

Imports: the standard library, `gae_emu.config.models`, `gae_emu.config.yamlsource`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from gae_emu.config.models import ErrorHandler
from gae_emu.config.yamlsource import MapView, Value

APP_KEYS = (
    "application", "project", "runtime", "service", "module", "version", "threadsafe", "api_version",
    "entrypoint", "env_variables", "handlers", "builtins", "includes", "default_expiration",
    "error_handlers", "inbound_services", "skip_files", "libraries", "app_engine_apis",
    "instance_class", "automatic_scaling", "basic_scaling", "manual_scaling", "vpc_access_connector",
    # accepted and ignored, as production accepts them
    "service_account", "build_env_variables", "env", "runtime_channel", "admin_console", "derived_file_type",
)
RUNTIME_RE = r"python27|python3[0-9]{1,2}"
APPLICATION_RE = r"(?:[a-z\d\-]{1,100}~)?(?:(?!-)[a-z\d\-.]{1,100}:)?(?!-)[a-z\d\-]{0,99}[a-z\d]"
SERVICE_RE = r"(?!-)[a-z\d\-]{0,62}[a-z\d]"
VERSION_RE = r"(?!-)[a-z\d\-]{0,62}[a-z\d]"
ENV_NAME_RE = r"[a-zA-Z_][a-zA-Z0-9_]*"
INSTANCE_CLASSES = ("F1", "F2", "F4", "F4_1G", "B1", "B2", "B4", "B4_1G", "B8")
INBOUND_SERVICES = ("mail", "mail_bounce", "xmpp_message", "xmpp_subscribe", "xmpp_presence",
                    "xmpp_error", "channel_presence", "rest", "warmup")
ERROR_CODES = ("default", "over_quota", "dos_api_denial", "timeout")
BUILTIN_NAMES = ("default", "admin_redirect", "appstats", "datastore_admin", "deferred", "django_wsgi",
                 "mapreduce", "remote_api")
SCALING_KEYS: Dict[str, Tuple[str, ...]] = {
    "automatic_scaling": (
        "min_idle_instances", "max_idle_instances", "min_pending_latency", "max_pending_latency",
        "max_concurrent_requests", "min_instances", "max_instances", "target_cpu_utilization",
        "target_throughput_utilization", "min_num_instances", "max_num_instances",
        "cool_down_period_sec", "cpu_utilization"),
    "basic_scaling": ("max_instances", "idle_timeout"),
    "manual_scaling": ("instances",),
}


def runtime(top: MapView) -> Optional[str]:
    if not top.require("runtime"):
        return None
    return top.get("runtime").as_str(
        pattern=RUNTIME_RE, pattern_desc="a Python standard-environment runtime (python27, python39, python312, ...)")


def default_application(root: Path) -> str:
    """The app id when app.yaml names none: the app directory's name, made a valid id."""
    name = re.sub(r"[^a-z0-9-]", "-", root.name.lower()).strip("-")
    return name or "app"


def env_variables(value: Optional[Value]) -> Dict[str, str]:
    env: Dict[str, str] = {}
    view = value.as_map() if value is not None else None
    if view is None:
        return env
    view.reject_unknown(view.keys())  # only repeated names
    for name in view.keys():
        if not re.fullmatch(ENV_NAME_RE, name):
            view.src.error(view.key_mark(name), f"{view.path}.{name}",
                           f"{name!r} is not a valid environment variable name ({ENV_NAME_RE})")
            continue
        text = view.get(name).as_str()
        if text is not None:
            env[name] = text
    return env


def builtins(value: Optional[Value]) -> List[Tuple[str, Value]]:
    """The builtins turned on, as `- deferred: on` items, with where each was set."""
    turned_on: List[Tuple[str, Value]] = []
    for item in value.as_list() if value is not None else []:
        view = item.as_map()
        if view is None:
            continue
        if len(view.keys()) != 1:
            item.error("each builtins entry names one builtin, like '- deferred: on'")
            continue
        view.reject_unknown(BUILTIN_NAMES)
        name = view.keys()[0]
        on = view.get(name).as_bool()
        if on and name in BUILTIN_NAMES and name != "default":
            turned_on.append((name, view.get(name)))
    return turned_on


def skip_files(value: Optional[Value]) -> List[str]:
    if value is None:
        return []
    return [r for r in (item.as_regex() for item in value.as_list(allow_single=True)) if r is not None]


def app_fields(top: MapView, root: Path, runtime_name: Optional[str]) -> Dict[str, object]:
    """The AppConfig fields of the top-level keys, checking also the keys only accepted."""
    fields: Dict[str, object] = {}
    for key in ("application", "project"):
        if key in top:
            app_id = top.get(key).as_str(pattern=APPLICATION_RE, pattern_desc="a valid application id")
            # `s~app` / `dev~app` name the same app; AppConfig holds the bare id.
            fields["application"] = app_id.split("~")[-1] if app_id else None
    if "service" in top and "module" in top:
        top.src.error(top.key_mark("module"), "module", "set service or module (its old name), not both")
    for key in ("service", "module"):
        if key in top:
            fields["service"] = top.get(key).as_str(
                pattern=SERVICE_RE, pattern_desc="a service name (lower-case letters, digits, '-')")
    if "version" in top:
        version = top.get("version").as_str(
            pattern=VERSION_RE, pattern_desc="a version name (lower-case letters, digits, '-')")
        if version and (version.startswith("ah-") or "-dot-" in version):
            top.get("version").error(f"{version!r} may not start with 'ah-' or contain '-dot-'")
        fields["version"] = version
    if "threadsafe" in top:
        fields["threadsafe"] = top.get("threadsafe").as_bool()
    elif runtime_name == "python27":
        top.src.error(top.mark, "threadsafe", "python27 requires threadsafe: true or false")
    if "api_version" in top:
        fields["api_version"] = top.get("api_version").as_str(pattern=r"[\w.]{1,32}", pattern_desc="an api_version")
    if "default_expiration" in top:
        fields["default_expiration"] = top.get("default_expiration").as_expiration()
    if "app_engine_apis" in top:
        fields["app_engine_apis"] = top.get("app_engine_apis").as_bool()
    fields["skip_files"] = skip_files(top.get("skip_files"))
    fields["inbound_services"] = tuple(
        s for s in (v.as_str(choices=INBOUND_SERVICES) for v in _items(top, "inbound_services")) if s)
    fields["error_handlers"] = tuple(e for e in (_error_handler(v, root) for v in _items(top, "error_handlers")) if e)
    fields["libraries"] = _libraries(top, runtime_name)
    _check_accepted(top)
    return {k: v for k, v in fields.items() if v is not None}


def _items(top: MapView, key: str) -> List[Value]:
    value = top.get(key)
    return value.as_list() if value is not None else []


def _error_handler(value: Value, root: Path) -> Optional[ErrorHandler]:
    view = value.as_map()
    if view is None:
        return None
    view.reject_unknown(("file", "error_code", "mime_type"))
    if not view.require("file"):
        return None
    file_value = view.get("file")
    name = file_value.as_str()
    if name is not None and not (root / name).is_file():
        file_value.error(f"file {name!r} does not exist (relative to {root})")
        name = None
    code = view.get("error_code").as_str(choices=ERROR_CODES) if "error_code" in view else None
    mime = view.get("mime_type").as_str() if "mime_type" in view else None
    if name is None:
        return None
    return ErrorHandler(file=(root / name).resolve(), error_code=None if code == "default" else code, mime_type=mime)


def _libraries(top: MapView, runtime_name: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    items = _items(top, "libraries")
    if items and runtime_name and runtime_name != "python27":
        top.src.error(top.key_mark("libraries"), "libraries", "libraries are only supported by the python27 runtime")
        return ()
    libraries: Dict[str, str] = {}
    for item in items:
        view = item.as_map()
        if view is None:
            continue
        view.reject_unknown(("name", "version"))
        if not view.require("name", "version"):
            continue
        name, version = view.get("name").as_str(), view.get("version").as_str()
        if name in libraries:
            view.get("name").error(f"library {name!r} is listed twice")
        elif name and version:
            libraries[name] = version
    return tuple(libraries.items())


def _check_accepted(top: MapView) -> None:
    """Keys gae-emu does not act on: still typed, so a typo in them is reported."""
    if "instance_class" in top:
        top.get("instance_class").as_str(choices=INSTANCE_CLASSES)
    scaling = [key for key in SCALING_KEYS if key in top]
    if len(scaling) > 1:
        top.src.error(top.key_mark(scaling[1]), scaling[1],
                      f"only one of automatic_scaling, basic_scaling, manual_scaling may be set (also {scaling[0]})")
    for key in scaling:
        view = top.get(key).as_map()
        if view is not None:
            view.reject_unknown(SCALING_KEYS[key])
    if "vpc_access_connector" in top:
        view = top.get("vpc_access_connector").as_map()
        if view is not None:
            view.reject_unknown(("name", "egress_setting"))
            if view.require("name"):
                view.get("name").as_str()
            if "egress_setting" in view:
                view.get("egress_setting").as_str(choices=("all-traffic", "private-ranges-only"))
    if "env" in top:
        top.get("env").as_str(choices=("standard",))
    for key in ("service_account", "runtime_channel"):
        if key in top:
            top.get(key).as_str()
    if "build_env_variables" in top:
        env_variables(top.get("build_env_variables"))
