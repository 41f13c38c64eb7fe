"""dispatch.yaml in the front end: which service a request to the default hostname goes to.

Production's rules (the dispatch.yaml reference, B11): rules are tried in file order and the first
whose host and path patterns match wins; a request naming a service in its Host
(`worker.localhost:8080`) or arriving on a service's own port is not dispatched (dev_appserver's
ports bypass dispatch too); `/_ah/` paths are not dispatched except `/_ah/queue/deferred` and
`/_ah/api` (production's front end's list). The host is compared without its port, in lower case.

The rule that routed a request is noted in its environ (`DISPATCH_RULE_KEY`) for the request log.

Imports: the standard library, `gae_emu.config`, `gae_emu.runtime.hosts`.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from gae_emu.config.dispatchyaml import DispatchConfig, DispatchRule
from gae_emu.runtime.hosts import split_host

log = logging.getLogger("gae_emu.dispatch")

DISPATCHABLE_AH_PREFIXES = ("/_ah/queue/deferred", "/_ah/api")
DISPATCH_RULE_KEY = "gae_emu.dispatch_rule"  # environ: "dispatch.yaml:4 */api/* -> api"


def dispatchable(path: str) -> bool:
    return not path.startswith("/_ah/") or path.startswith(DISPATCHABLE_AH_PREFIXES)


class DispatchRules:
    """Matches (Host, path) against the current dispatch.yaml (re-read when it changes)."""

    def __init__(self, config: Callable[[], DispatchConfig]) -> None:
        self._config = config

    def match(self, host: str, path: str) -> Optional[DispatchRule]:
        if not dispatchable(path):
            return None
        name, _ = split_host(host)
        for rule in self._config().rules:
            if rule.matches(name, path):
                return rule
        return None

    def route(self, environ: dict, host: str, path: str) -> Optional[str]:
        """The service a matching rule names (noting the rule in `environ`), or None."""
        rule = self.match(host, path)
        if rule is None:
            return None
        environ[DISPATCH_RULE_KEY] = f"{rule.source} {rule.url} -> {rule.service}"
        return rule.service
