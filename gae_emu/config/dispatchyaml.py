"""Loading dispatch.yaml into a `DispatchConfig`: ordered url-pattern -> service rules.

Rules follow the SDK's `dispatchinfo` and the dispatch.yaml reference: `url` is `host/path` where
the host is exact or starts with `*` (any prefix; `*` alone is any host) and may not be an IPv4
address, and the path may end with `*` (any suffix) and holds no other `*`; at most 100 characters;
`service` (or the deprecated `module`) names a service; at most 20 rules. Whether each service is
served is checked by `check_services` once the app.yaml files are known.

Imports: the standard library, `gae_emu.config.*` (which imports yaml).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, List, Optional, Tuple

from gae_emu.config.errors import ConfigError, Problem
from gae_emu.config.yamlsource import Source, Value

TOP_KEYS = ("dispatch", "application")
RULE_KEYS = ("url", "service", "module")
MAX_RULES = 20
MAX_URL_LENGTH = 100
SERVICE_RE = r"(?!-)[a-z\d\-]{1,63}"
_URL_SPLIT = re.compile(r"([^/]+)(/.*)")
_LABEL = r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
_HOST_EXACT = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_HOST_SUFFIX = re.compile(rf"\*(?:|[a-z0-9\-]*[a-z0-9]|(?:\.|[a-z0-9\-]*[a-z0-9]\.)(?:{_LABEL}\.)*{_LABEL})")
_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")


@dataclass(frozen=True)
class DispatchRule:
    url: str  # as written
    service: str
    host: str  # without the leading "*"
    host_exact: bool
    path: str  # without the trailing "*"
    path_exact: bool
    line: int = 0
    column: int = 0
    source: str = ""  # "path/dispatch.yaml:4"

    def matches(self, host: str, path: str) -> bool:
        """Host (lower case, no port) and path as production compares them."""
        host_ok = host == self.host if self.host_exact else host.endswith(self.host)
        path_ok = path == self.path if self.path_exact else path.startswith(self.path)
        return host_ok and path_ok


@dataclass(frozen=True)
class DispatchConfig:
    rules: Tuple[DispatchRule, ...] = ()
    path: Optional[Path] = None
    display: str = ""


def load_dispatch_yaml(path: Path, display: Optional[str] = None) -> DispatchConfig:
    src = Source(path, display if display is not None else str(path))
    top = src.load()
    top.reject_unknown(TOP_KEYS)
    if "application" in top:
        top.get("application").as_str()
    items = top.get("dispatch").as_list() if "dispatch" in top else []
    if len(items) > MAX_RULES:
        items[MAX_RULES].error(f"{len(items)} dispatch rules; App Engine allows at most {MAX_RULES}")
    rules: List[DispatchRule] = []
    for item in items:
        rule = _rule(item)
        if rule is not None:
            rules.append(rule)
    src.check()
    return DispatchConfig(rules=tuple(rules), path=Path(path).resolve(), display=src.display)


def _rule(item: Value) -> Optional[DispatchRule]:
    view = item.as_map()
    if view is None:
        return None
    view.reject_unknown(RULE_KEYS, "a dispatch rule")
    if "service" in view and "module" in view:
        view.src.error(view.key_mark("module"), f"{view.path}.module",
                       "give 'service' or its old name 'module', not both")
    key = "module" if "module" in view and "service" not in view else "service"
    ok = view.require("url") & (key in view or view.require("service"))
    url = _url(view.get("url")) if "url" in view else None
    service_value = view.get(key)
    service = service_value.as_str(pattern=SERVICE_RE, pattern_desc="a service name (a-z, 0-9, '-')") \
        if service_value is not None else None
    if not ok or url is None or service is None or service_value is None:
        return None
    host_pattern, path_pattern = url
    return DispatchRule(
        url=f"{host_pattern}{path_pattern}", service=service,
        host=host_pattern.lstrip("*") if host_pattern.startswith("*") else host_pattern,
        host_exact=not host_pattern.startswith("*"),
        path=path_pattern[:-1] if path_pattern.endswith("*") else path_pattern,
        path_exact=not path_pattern.endswith("*"),
        line=service_value.mark.line, column=service_value.mark.column,
        source=f"{view.src.display}:{view.mark.line}",
    )


def _url(value: Value) -> Optional[Tuple[str, str]]:
    text = value.as_str()
    if text is None:
        return None
    if len(text) > MAX_URL_LENGTH:
        value.error(f"is {len(text)} characters; a dispatch url has at most {MAX_URL_LENGTH}")
        return None
    match = _URL_SPLIT.fullmatch(text)
    if not match:
        value.error(f"{text!r} is not a url pattern 'host/path' (use '*/path' for any host)")
        return None
    host, path = match.groups()
    if host.startswith("*"):
        if not _HOST_SUFFIX.fullmatch(host):
            value.error(f"invalid host pattern {host!r}: a '*' may only start the host, followed by name labels")
            return None
    else:
        if not _HOST_EXACT.fullmatch(host):
            value.error(f"invalid host {host!r}: lower-case labels of a-z, 0-9 and '-', or a leading '*'")
            return None
        ip = _IPV4.fullmatch(host)
        if ip and all(int(part) <= 255 for part in ip.groups()):
            value.error(f"the host may not be an IPv4 address ({host!r})")
            return None
    if "*" in path[:-1]:
        value.error(f"{path!r}: a '*' may only end the path")
        return None
    return host, path


def check_services(config: DispatchConfig, services: Collection[str]) -> None:
    """A rule naming a service that is not served is a start-up error naming the rule's line."""
    problems = [
        Problem(config.display, f"service {rule.service!r} is not served (served: {', '.join(sorted(services))})",
                rule.line, rule.column, f"dispatch[{i}].service")
        for i, rule in enumerate(config.rules) if rule.service not in services
    ]
    if problems:
        raise ConfigError(problems)

