"""The Python prompt of `gae-emu shell`, run by path in the service's own interpreter.

`gae-emu shell` (cli.py) works out the service's environment as its instance gets it, then executes
this file with that interpreter: it may be an app's virtualenv where gae-emu itself is not
installed, so everything here at module level is the standard library. It wires what that
interpreter has:

- Google's library (appengine-python-standard): its API stub registered as `wrap_wsgi_app` does,
  calling the emulator's API server with the service's shell ticket (valid while the emulator runs);
- gae-emu's classic API (`gae_emu.ext`, `gae_emu.api`), through `gae_emu.shellclient`;

then runs `-c CODE` or an interactive prompt with the service's folder first on `sys.path`.

Imports: the standard library at module level; the libraries above only if installed.
"""
from __future__ import annotations

import code
import json
import os
import sys
from typing import Dict, List, Optional

FILE_VARIABLE = "GAE_EMU_SHELL_FILE"  # the emulator's shell.json
SERVICE_VARIABLE = "GAE_EMU_SHELL_SERVICE"
ROOT_VARIABLE = "GAE_EMU_SHELL_ROOT"
DEV_TICKET_VARIABLE = "HTTP_X_APPENGINE_DEV_REQUEST_ID"  # where Google's library looks for its ticket


def wire_google_library(connection: Dict, service: str) -> Optional[str]:
    """Register Google's API stub, with this service's shell ticket for every thread; the line the
    banner shows, or None when the library is not installed here."""
    try:
        from google.appengine.api import full_app_id
        from google.appengine.runtime import default_api_stub, initialize
    except ImportError:
        return None
    if not connection.get("api"):
        return ("Google's library: not connected (the emulator serves its API only when a service is "
                "python3 and appengine-python-standard is installed beside gae-emu)")
    os.environ[DEV_TICKET_VARIABLE] = connection["tickets"][service]
    initialize.InitializeThreadingApis()
    default_api_stub.Register(default_api_stub.DefaultApiStub())
    # A request's ticket is valid on the thread serving it only; the shell's lasts as long as the
    # emulator, so every thread of the prompt (ndb's, the user's) may use it.
    default_api_stub.DefaultApiStub.ShouldUseRequestSecurityTicketForThread = classmethod(lambda cls: True)
    full_app_id.normalize()
    host, port = connection["api"]
    return f"Google's library (ndb, taskqueue, memcache, ...): API server at http://{host}:{port}"


def wire_gae_emu(connection: Dict, service: str) -> Optional[str]:
    """Point gae-emu's classic API at the emulator; the banner's line, or None without gae-emu here."""
    try:
        from gae_emu import shellclient
    except ImportError:
        return None
    if not connection.get("admin_url"):
        return "gae_emu.ext: not connected (the emulator runs without its admin port: --no-admin)"
    try:
        shellclient.install(connection, service)
    except shellclient.ShellConnectionError as exc:
        sys.exit(f"gae-emu shell: {exc}")
    return f"gae_emu.ext and gae_emu.api (db, deferred, taskqueue): admin port {connection['admin_url']}"


def main(argv: List[str]) -> int:
    path = os.environ.pop(FILE_VARIABLE)
    service = os.environ.pop(SERVICE_VARIABLE)
    root = os.environ.pop(ROOT_VARIABLE)
    with open(path, encoding="utf-8") as src:
        connection = json.load(src)
    sys.path[0:1] = [root]  # the service's folder, as its instance imports from it (not this file's)
    # As in a request to the service: Google's library names a task's default target from it.
    os.environ.setdefault("HTTP_HOST", connection["hostnames"][service])
    wired = [line for line in (wire_google_library(connection, service), wire_gae_emu(connection, service)) if line]
    namespace = {"__name__": "__main__", "__doc__": None}
    if len(argv) >= 2 and argv[0] == "-c":
        exec(compile(argv[1], "<gae-emu shell -c>", "exec"), namespace)
        return 0
    try:
        import readline  # noqa: F401 (line editing and history at the prompt)
        import rlcompleter  # noqa: F401

        readline.parse_and_bind("tab: complete")
    except ImportError:
        pass
    banner = "\n".join([
        f"gae-emu shell: service {service} of {connection['app_id']} (the emulator is process {connection['pid']})",
        *("  " + line for line in wired or ["nothing to connect: neither Google's library nor gae-emu is importable"]),
        "Calls reach the running emulator: its datastore, queues and memcache. Ctrl-D leaves.",
    ])
    code.interact(banner=banner, local=namespace, exitmsg="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
