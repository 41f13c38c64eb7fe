"""Checking, at load time, that a classic `script:` handler's WSGI app can really be imported, and
that classic services sharing this process do not need two different modules of one name.

The import runs in this process (a subprocess would not see the same interpreter state and costs a
second per check) with the app root first on sys.path; afterwards sys.path is restored and every
module the check imported from the app root is dropped again, so a second service with its own
`main.py` is not shadowed and the server later imports the app fresh.

Imports: the standard library, `gae_emu.config.models`.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, Optional, Sequence, Tuple

from gae_emu.config.models import AppConfig, ScriptRef


def import_problem(ref: ScriptRef, root: Path) -> Optional[str]:
    """None if `ref` imports and names an attribute, else a one-line reason."""
    if ref.builtin:
        return None
    root = root.resolve()
    saved_path = list(sys.path)
    before = set(sys.modules)
    shadowed = _stash_foreign(ref.module.split(".")[0], root)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(ref.module)
        if not hasattr(module, ref.attr):
            return f"module {ref.module!r} has no attribute {ref.attr!r}"
        if not callable(getattr(module, ref.attr)):
            return f"{ref.module}.{ref.attr} is not callable, so it is not a WSGI application"
        return None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and friends from app code are reasons too
        return f"cannot import {ref.module!r}: {_one_line(exc)}"
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            if _is_under(module, root) and not _is_installed(module):  # a .venv in the app folder stays
                sys.modules.pop(name, None)
        sys.modules.update(shadowed)


def _stash_foreign(top: str, root: Path) -> Dict[str, ModuleType]:
    """Take out modules of the same top-level name loaded from another app root (another service's
    `main`); standard-library and installed packages stay, the app imports them the same way later."""
    stashed: Dict[str, ModuleType] = {}
    for name in list(sys.modules):
        if name == top or name.startswith(top + "."):
            module = sys.modules[name]
            if _file_of(module) and not _is_under(module, root) and not _is_installed(module):
                stashed[name] = sys.modules.pop(name)
    return stashed


def module_clash(apps: Sequence[AppConfig]) -> Optional[str]:
    """Classic services share this process and so one `sys.modules`: two of them whose scripts import
    different files under one top-level module name cannot both be served. The reason, or None."""
    seen: Dict[str, Tuple[Path, AppConfig]] = {}
    for app in apps:
        for handler in app.handlers:
            ref = handler.script
            if ref is None or ref.builtin:
                continue
            top = ref.module.split(".")[0]
            file = _top_level_file(app.root, top)
            if file is None:
                continue
            if top in seen and seen[top][0] != file:
                other_file, other = seen[top]
                return (f"{other.path} and {app.path} both import a module {top!r}, from different files "
                        f"({other_file} and {file}); classic services share one process, so give one of them "
                        "another module name (python3 services each run in their own instance)")
            seen.setdefault(top, (file, app))
    return None


def _top_level_file(root: Path, top: str) -> Optional[Path]:
    for candidate in (root / f"{top}.py", root / top):
        if candidate.exists():
            return candidate.resolve()
    return None


def _is_installed(module: Optional[ModuleType]) -> bool:
    file = _file_of(module) or ""
    return any(part in file for part in ("site-packages", "dist-packages")) or file.startswith(sys.prefix + "/lib")


def _file_of(module: Optional[ModuleType]) -> Optional[str]:
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    if file:
        return str(file)
    paths = list(getattr(module, "__path__", []) or [])
    return str(paths[0]) if paths else None


def _is_under(module: Optional[ModuleType], root: Path) -> bool:
    file = _file_of(module)
    if file is None:
        return False
    try:
        Path(file).resolve().relative_to(root)
        return True
    except (ValueError, OSError):
        return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
