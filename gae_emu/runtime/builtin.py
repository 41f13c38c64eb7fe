"""Where the emulator's own `app.yaml` is, in a source checkout and in an installed wheel.

`handlers/` is installed as `gae_emu.handlers`; the wheel build copies the top-level app.yaml into
it, while an editable install finds it one folder up. The package is located, not imported.

Imports: the standard library only.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def builtin_app_yaml() -> Path:
    spec = importlib.util.find_spec("gae_emu.handlers")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("gae_emu.handlers is not installed; reinstall gae-emu")
    package_dir = Path(list(spec.submodule_search_locations)[0])
    for candidate in (package_dir / "app.yaml", package_dir.parent / "app.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"gae-emu's built-in app.yaml is missing next to {package_dir}")
