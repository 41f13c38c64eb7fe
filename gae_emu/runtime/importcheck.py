"""`gae-emu check` for python3 services: import the entrypoint's app once, in the app's own interpreter
and environment (as its instance would), and report an import error with its file and line.

gae-emu never imports a python3 app in its own process (App Engine's deploy does not either); this
check starts the interpreter once per distinct (folder, app) and throws it away.

Imports: the standard library, `gae_emu.config`, `gae_emu.runtime.entrypoint`, `gae_emu.runtime.environ`.
"""
from __future__ import annotations

import subprocess
from typing import Dict, Optional

from gae_emu.config.handlers import DEFAULT_ENTRYPOINT, parse_entrypoint
from gae_emu.config.models import AppConfig
from gae_emu.runtime.entrypoint import bin_dir, interpreter_for
from gae_emu.runtime.environ import ServiceIdentity, instance_process_env

CHECK_TIMEOUT = 120.0
# Runs in the app's interpreter: import module:attr from the working directory; on failure print one
# line, `file:line: Error: message`, naming the app's own frame nearest the error.
_SNIPPET = r"""
import importlib, os, sys, traceback
sys.path.insert(0, os.getcwd())
module, attr = sys.argv[1], sys.argv[2]
try:
    app = importlib.import_module(module)
    for part in attr.split("."):
        app = getattr(app, part)
    if not callable(app):
        print(f"{module}:{attr} is not callable, so it is not a WSGI application"); sys.exit(3)
except BaseException as exc:
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}: "
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(os.getcwd())]
        if frames:
            where = f"{frames[-1].filename}:{frames[-1].lineno}: "
    text = (str(exc).strip().splitlines() or [""])[0]
    print(f"cannot import {module!r}: {where}{type(exc).__name__}" + (f": {text}" if text else "")); sys.exit(3)
"""


CHECK_DATASTORE = "127.0.0.1:0"


def instance_import_problem(app: AppConfig, python: Optional[str] = None,
                            extra_env: Optional[Dict[str, str]] = None) -> Optional[str]:
    """None when the service's app imports in its instance's interpreter, else a one-line reason."""
    ref = parse_entrypoint(app.entrypoint) if app.entrypoint else DEFAULT_ENTRYPOINT
    if ref is None:  # `python main.py` and the like: only running it would tell
        return None
    interpreter = interpreter_for(app.root, python)
    identity = ServiceIdentity(app=app, hostname="localhost", default_hostname="localhost")
    # As under `gae-emu dev`, the Cloud clients find an emulator (none listens: importing must not
    # call it), so `ndb.Client()` at import time needs no credentials.
    env = instance_process_env(identity, bin_dir(interpreter), dict(extra_env or {}), datastore=CHECK_DATASTORE)
    env["PORT"] = "8080"
    how = f"entrypoint {ref}" if app.entrypoint else f"default entrypoint {ref}"
    try:
        done = subprocess.run([interpreter, "-c", _SNIPPET, ref.module, ref.attr], cwd=str(app.root), env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CHECK_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{how}: cannot run {interpreter}: {exc}"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    reason = lines[-1] if lines else (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return f"{how}: {reason}"
