"""Does a python3 service use App Engine's bundled APIs without `app_engine_apis: true`?

App Engine refuses the bundled APIs (`google.appengine.api`, `.ext.ndb`, `.ext.deferred`, ...) to a
python3 app whose app.yaml lacks `app_engine_apis: true`; gae-emu would serve them anyway, so the
app would break only once deployed. This finds the first import of them in the service's own `.py`
files (read as text, never imported; virtualenvs and hidden folders skipped).

Imports: the standard library, `gae_emu.config.models`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from gae_emu.config.models import AppConfig

_IMPORT = re.compile(r"^[ \t]*(?:from\s+google\.appengine[\w.]*\s+import\b|import\s+google\.appengine\b)", re.M)
_SKIPPED = {"__pycache__", "venv", "env", "node_modules", "site-packages", "lib"}
MAX_FILES = 2000  # a service folder holding a whole library tree is not worth reading in full


def bundled_api_warning(app: AppConfig) -> Optional[str]:
    """`file:line: ...` naming the first bundled-API import of a python3 service without
    `app_engine_apis: true`, else None."""
    if not app.is_python3 or app.app_engine_apis:
        return None
    seen = 0
    for dirpath, dirnames, filenames in os.walk(app.root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED and not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            seen += 1
            if seen > MAX_FILES:
                return None
            path = Path(dirpath) / name
            try:
                text = path.read_text("utf-8", "replace")
            except OSError:
                continue
            match = _IMPORT.search(text)
            if match:
                line = text.count("\n", 0, match.start()) + 1
                return (f"{path}:{line}: imports App Engine's bundled APIs, but {app.path} lacks "
                        "`app_engine_apis: true`: App Engine refuses them to this app once deployed "
                        "(gae-emu serves them anyway)")
    return None
